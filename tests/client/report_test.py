#!/usr/bin/env python3
"""End-to-end tests of `gantry report`: a table job's report in every format
(HTML, PNG, PDF, SVG, JSON) from a real gantryd, the JSON equal to what HTTP's
GET /v1/jobs/ID/report serves, the same report rebuilt offline from its
JSON (--input), and the errors (an unknown extension, no such job, a point
job, a bad --input).

    python3 tests/client/report_test.py --gantry build/bin/gantry --gantryd build/bin/gantryd
"""
import argparse
import html
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "common"))
sys.path.insert(0, HERE)
from gantry_testlib import HttpDaemon  # noqa: E402
import report_fixture  # noqa: E402
import tables  # noqa: E402

ARGS = None
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_NOT_FOUND = 0, 1, 2, 3, 4
FORMATS = ("html", "png", "pdf", "svg", "json")


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    return struct.unpack(">II", head[16:24])


def pdf_pages(data):
    return len(re.findall(rb"/Type\s*/Page[^s]", data))


class ReportChecks:
    """Checks shared by the offline and the live tests."""

    def gantry(self, *args, expect=EXIT_OK, server=None):
        cmd = [ARGS.gantry]
        if server:
            cmd += ["--server", server]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, expect,
                         f"gantry {' '.join(args)}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def check_formats(self, outputs, report):
        """outputs: format -> path; report: the TableReport as parsed JSON."""
        names = [c["name"] for c in report["columns"]]
        # PNG: one tall image, as wide as the layout.
        width, height = png_size(outputs["png"])
        self.assertEqual(width, 1250)
        self.assertGreater(height, width, "one tall image")
        self.assertLess(height, 100000)
        # PDF: pages.
        with open(outputs["pdf"], "rb") as f:
            pdf = f.read()
        self.assertTrue(pdf.startswith(b"%PDF-"), pdf[:16])
        self.assertGreater(pdf_pages(pdf), 1)
        # SVG: well-formed XML, an <svg> root.
        root = ET.parse(outputs["svg"]).getroot()
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        # HTML: self-contained, every column named, figures inline.
        with open(outputs["html"], encoding="utf-8") as f:
            page = f.read()
        self.assertTrue(page.startswith("<!DOCTYPE html>"))
        self.assertNotIn("http://", page)
        self.assertNotIn("https://", page)
        for tag in ("<script", "<link", "<img", "<iframe", "src=", "@import"):
            self.assertNotIn(tag, page, "no external resource")
        for name in names:
            self.assertIn(html.escape(name), page, f"column {name!r} is named")
        self.assertEqual(page.count("<svg "), 1 + min(len(names), 60) + (3 if len(names) > 1 else 0),
                         "the history chart, a chart per column, three heatmaps")
        self.assertGreaterEqual(page.count("<table>"), 2)
        # Every figure's ids are its own (inline SVGs share one document).
        ids = re.findall(r'\bid="([^"]+)"', page)
        self.assertEqual(len(ids), len(set(ids)), "ids are unique in the page")
        # JSON: the report.
        with open(outputs["json"], encoding="utf-8") as f:
            self.assertEqual(json.load(f)["columns"][0]["name"], names[0])

    def render_all(self, tmp, stem, *source, server=None):
        outputs = {}
        for fmt in FORMATS:
            path = os.path.join(tmp, f"{stem}.{fmt}")
            r = self.gantry("report", *source, "--out", path, server=server)
            self.assertEqual(r.stdout.strip(), path)
            outputs[fmt] = path
        return outputs


class ReportOfflineTest(ReportChecks, unittest.TestCase):
    """gantry report --input: saved reports rendered with no server."""

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.tmp = cls.tmpdir.name
        tables.write_all(os.path.join(cls.tmp, "t"), only={"fair", "breast_cancer", "unicode"})

    @classmethod
    def tearDownClass(cls):
        cls.tmpdir.cleanup()

    def fixture(self, csv_name, target=None, stem=None):
        report = report_fixture.make_report(os.path.join(self.tmp, "t", csv_name), target)
        path = os.path.join(self.tmp, (stem or csv_name) + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(report, f)
        return path, report

    def test_fair_every_format_and_summary(self):
        path, report = self.fixture("fair.csv", target="religious")
        outputs = self.render_all(self.tmp, "fair", "--input", path)
        self.check_formats(outputs, report)
        with open(outputs["html"], encoding="utf-8") as f:
            page = f.read()
        for text in ("Scores", "Privacy", "Utility", "Scores over epochs", "Associations between columns",
                     "no sign of memorisation", "max_dcr_share", "macro_f1"):
            self.assertIn(text, page)
        # The order of the sections.
        order = [page.index(t) for t in ("<h1>", ">Scores<", ">Privacy<", ">Utility", ">Scores over epochs<",
                                         ">Columns:", ">Associations")]
        self.assertEqual(order, sorted(order))
        # Without --out: a summary.
        out = self.gantry("report", "--input", path).stdout
        self.assertIn("quality ", out)
        self.assertIn("privacy: no sign of memorisation", out)
        self.assertIn("utility: religious (classification), macro_f1", out)
        # The JSON written is proto JSON; rendering it again gives the same bytes.
        again = os.path.join(self.tmp, "fair-again.json")
        self.gantry("report", "--input", outputs["json"], "--out", again)
        with open(outputs["json"], "rb") as a, open(again, "rb") as b:
            self.assertEqual(a.read(), b.read())
        html2 = os.path.join(self.tmp, "fair-again.html")
        self.gantry("report", "--input", outputs["json"], "--out", html2)
        with open(outputs["html"], "rb") as a, open(html2, "rb") as b:
            self.assertEqual(a.read(), b.read(), "rendering is deterministic")
        # -o json without --out prints the same JSON.
        printed = self.gantry("-o", "json", "report", "--input", path).stdout
        with open(outputs["json"], encoding="utf-8") as f:
            self.assertEqual(json.loads(printed), json.load(f))

    def test_wide_table(self):
        path, report = self.fixture("breast_cancer.csv", target="diagnosis")
        self.assertEqual(len(report["columns"]), 31)
        self.check_formats(self.render_all(self.tmp, "wide", "--input", path), report)

    def test_unicode_names(self):
        path, report = self.fixture("unicode.csv")
        self.check_formats(self.render_all(self.tmp, "unicode", "--input", path), report)

    def test_more_columns_than_charts(self):
        header = [f"column_{i:02d}_with_a_rather_long_name" for i in range(75)]
        rows = [[(r * (i + 3)) % 17 + (0.5 if i % 2 else 0) for i in range(75)] for r in range(200)]
        csv_path = os.path.join(self.tmp, "t", "seventy_five.csv")
        tables.write_rows(csv_path, header, rows)
        path, report = self.fixture("seventy_five.csv")
        outputs = self.render_all(self.tmp, "many", "--input", path)
        self.check_formats(outputs, report)
        with open(outputs["html"], encoding="utf-8") as f:
            page = f.read()
        self.assertIn("Showing the first 60 of 75 columns.", page)

    def test_errors(self):
        path, _ = self.fixture("fair.csv")
        r = self.gantry("report", "--input", path, "--out", os.path.join(self.tmp, "x.txt"), expect=EXIT_USAGE)
        self.assertIn("gantry: report: --out " + os.path.join(self.tmp, "x.txt") + ": unknown extension", r.stderr)
        self.assertIn(".html, .png, .pdf, .svg or .json", r.stderr)
        r = self.gantry("report", "--input", path, "--out", os.path.join(self.tmp, "noext"), expect=EXIT_USAGE)
        self.assertIn("unknown extension", r.stderr)
        missing = os.path.join(self.tmp, "missing.json")
        r = self.gantry("report", "--input", missing, expect=EXIT_USAGE)
        self.assertEqual(r.stderr, f"gantry: report: --input {missing}: cannot read it\n")
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write("{\"columns\": 3}")
        r = self.gantry("report", "--input", bad, expect=EXIT_USAGE)
        self.assertIn(f"gantry: report: --input {bad}: not a table report's JSON", r.stderr)
        r = self.gantry("report", expect=EXIT_USAGE)
        self.assertIn("give a job id or --input FILE", r.stderr)
        r = self.gantry("report", "j-x", "--input", path, expect=EXIT_USAGE)
        self.assertIn("give a job id or --input FILE", r.stderr)
        r = self.gantry("report", "--input", path, "--epoch", "3", expect=EXIT_USAGE)
        self.assertIn("--epoch is for a job", r.stderr)
        r = self.gantry("report", "j-x", "--epoch", "zero", expect=EXIT_USAGE)
        self.assertIn("gantry: report: --epoch 'zero' is neither an epoch", r.stderr)
        unwritable = os.path.join(self.tmp, "no-such-dir", "r.png")
        r = self.gantry("report", "--input", path, "--out", unwritable, expect=EXIT_USAGE)
        self.assertIn("no such directory: " + os.path.join(self.tmp, "no-such-dir") + "/", r.stderr)


class ReportLiveTest(ReportChecks, unittest.TestCase):
    """A real small table job with a target on a real gantryd."""

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.tmp = cls.tmpdir.name
        cls.server = HttpDaemon(ARGS.gantryd, cls.tmp)
        tables.write_all(os.path.join(cls.tmp, "t"), only={"fair"})
        cls.fair = os.path.join(cls.tmp, "t", "fair.csv")
        r = cls.run_cli("submit", "--target", "religious", "--max-dcr-share", "0.9", "--table", cls.fair,
                        "--name", "fair report", "--epochs", "4",
                        "--eval-every", "1", "--latent-dim", "32", "--generator-hidden", "64,64",
                        "--discriminator-hidden", "64,64", "--batch-size", "100", "--eval-points", "300",
                        "--watch")
        if r.returncode != 0:
            raise RuntimeError(f"the table job failed: {r.stdout}\n{r.stderr}")
        cls.job = r.stdout.splitlines()[0].strip()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        cls.tmpdir.cleanup()
        assert rc == 0, f"gantryd exited {rc}"

    @classmethod
    def run_cli(cls, *args):
        return subprocess.run([ARGS.gantry, "--server", cls.server.address, *args],
                              capture_output=True, text=True, timeout=600)

    def test_every_format_equals_http(self):
        outputs = self.render_all(self.tmp, "live", self.job, server=self.server.address)
        with open(outputs["json"], encoding="utf-8") as f:
            report = json.load(f)
        self.check_formats(outputs, report)
        header, _ = tables.read_csv(self.fair)
        self.assertEqual([c["name"] for c in report["columns"]], header)
        self.assertEqual(report["jobId"], self.job)
        self.assertEqual(report["jobName"], "fair report")
        self.assertEqual(report["epoch"], report["bestEpoch"], "the best epoch by default")
        self.assertEqual(report["utility"]["target"], "religious")
        self.assertEqual(report["utility"]["task"], "classification")
        self.assertIn("verdict", report["privacy"])
        self.assertEqual(report["maxDcrShare"], 0.9)
        self.assertEqual(len(report["history"]), 4)
        # Exactly what HTTP serves, byte for byte.
        status, _, body = self.server.request("GET", f"/v1/jobs/{self.job}/report")
        self.assertEqual(status, 200)
        with open(outputs["json"], "rb") as f:
            self.assertEqual(f.read(), body)
        # A given epoch, as HTTP's ?epoch=.
        r = self.gantry("report", self.job, "--epoch", "2", "--out", os.path.join(self.tmp, "e2.json"),
                        server=self.server.address)
        with open(r.stdout.strip(), encoding="utf-8") as f:
            e2 = json.load(f)
        self.assertEqual(e2["epoch"], "2")
        self.assertEqual(e2, self.server.json("GET", f"/v1/jobs/{self.job}/report?epoch=2"))
        # The saved JSON rebuilds the same HTML offline.
        rebuilt = os.path.join(self.tmp, "rebuilt.html")
        self.gantry("report", "--input", outputs["json"], "--out", rebuilt)
        with open(outputs["html"], "rb") as a, open(rebuilt, "rb") as b:
            self.assertEqual(a.read(), b.read())
        # The summary.
        out = self.gantry("report", self.job, "--epoch", "best", server=self.server.address).stdout
        self.assertIn(f"job fair report ({self.job}): epoch {report['epoch']} (the best by {report['selectBy']})", out)
        self.assertIn("utility: religious (classification), macro_f1 ", out)
        self.assertRegex(out, r"privacy: .+ \(DCR share \d\.\d{3}, exact copies")

    def test_errors(self):
        addr = self.server.address
        r = self.gantry("report", self.job, "--out", os.path.join(self.tmp, "r.docx"), expect=EXIT_USAGE,
                        server=addr)
        self.assertIn(f"gantry: report {self.job}: --out ", r.stderr)
        self.assertIn("unknown extension", r.stderr)
        r = self.gantry("report", "j-nosuchjob", expect=EXIT_NOT_FOUND, server=addr)
        self.assertTrue(r.stderr.startswith("gantry: report j-nosuchjob: "), r.stderr)
        # A point job has no table report: the server says so.
        point = self.gantry("submit", "--epochs", "1", "--size", "64", server=addr).stdout.strip()
        self.gantry("watch", point, server=addr)
        r = subprocess.run([ARGS.gantry, "--server", addr, "report", point], capture_output=True, text=True,
                           timeout=600)
        self.assertIn(r.returncode, (EXIT_ERROR, EXIT_USAGE), r.stderr)
        self.assertTrue(r.stderr.startswith(f"gantry: report {point}: "), r.stderr)
        self.assertIn("table", r.stderr)
        # An epoch that was not evaluated or kept.
        r = subprocess.run([ARGS.gantry, "--server", addr, "report", self.job, "--epoch", "99"],
                           capture_output=True, text=True, timeout=600)
        self.assertNotEqual(r.returncode, EXIT_OK)
        self.assertTrue(r.stderr.startswith(f"gantry: report {self.job}: "), r.stderr)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--gantry", required=True)
    ap.add_argument("--gantryd", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
