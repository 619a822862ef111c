// The table evaluation (core/table_eval.h) against answers computed by
// hand from SDMetrics' definitions: column shapes, pair trends, missing
// values, coverage and adherence, the overall score, distance to closest
// record, exact copies, utility; the split's stratification; and a table
// job that memorises, flagged by the privacy figures and kept from being
// the best epoch by max_dcr_share.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "core/metrics.h"
#include "core/table.h"
#include "core/table_eval.h"
#include "core/table_trainer.h"
#include "core/trainer.h"

namespace gantry {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Numbers read as numbers: `continuous` names columns that would otherwise
// be read as integer codes.
std::shared_ptr<const Table> Parse(const std::string& csv, const std::vector<std::string>& continuous = {}) {
  TableOptions opt;
  for (const auto& c : continuous) opt.overrides[c] = ColumnType::kContinuous;
  auto t = ParseTable(csv, opt);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::make_shared<const Table>(t.ok() ? std::move(t).value() : Table{});
}

JobSpec SpecFor(std::shared_ptr<const Table> table) {
  JobSpec s = TableDefaults();
  s.dataset.table.table_id = "t";
  s.dataset.table.data = std::move(table);
  return s;
}

// Rows [0, held) are the real (held-out) rows, the rest train.
std::unique_ptr<TableEvaluator> Evaluator(std::shared_ptr<const Table> table, int64_t held, JobSpec spec = {}) {
  if (!spec.dataset.table.data) spec = SpecFor(table);
  TableSplit split;
  for (int64_t r = 0; r < table->rows(); ++r) (r < held ? split.held_out : split.train).push_back(r);
  split.train_order = split.train;
  auto e = TableEvaluator::CreateWithSplit(table, spec, split);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? std::move(e).value() : nullptr;
}

int Level(const Table& t, int col, const std::string& name) {
  const auto& levels = t.schema.columns[static_cast<size_t>(col)].levels;
  return static_cast<int>(std::find(levels.begin(), levels.end(), name) - levels.begin());
}

TEST(TableEval, ColumnShapesPairTrendsAndTheOverallScoreByHand) {
  // Real (held-out) rows: x 1 2 3 4, c a a b b. Training rows follow.
  auto t = Parse("x,c\n1,a\n2,a\n3,b\n4,b\n1.5,a\n2.5,b\n3.5,a\n");
  auto e = Evaluator(t, 4);
  ASSERT_TRUE(e);
  const double a = Level(*t, 1, "a"), b = Level(*t, 1, "b");
  // Generated: x 3 4 5 6, c a a a b.
  const std::vector<std::vector<double>> gen = {{3, 4, 5, 6}, {a, a, a, b}};
  const TableReport r = e->Report(gen);
  ASSERT_EQ(r.columns.size(), 2u);
  // KS: the ECDFs differ by 1/2 at 2 and at 4.
  EXPECT_EQ(r.columns[0].shape_metric, "KSComplement");
  EXPECT_DOUBLE_EQ(r.columns[0].shape, 0.5);
  // TV: |0.5 - 0.75| + |0.5 - 0.25| = 0.5, halved.
  EXPECT_EQ(r.columns[1].shape_metric, "TVComplement");
  EXPECT_DOUBLE_EQ(r.columns[1].shape, 0.75);
  EXPECT_DOUBLE_EQ(r.metrics.column_shapes, 0.625);
  // The mixed pair: x in numpy's 10 bins over 1..4, the outer ones open
  // (edges -inf, 1.3, ..., 3.7, +inf: 1 -> 1, 2 -> 4, 3 -> 7, 4 and above
  // -> 10). Real cells (1,a) (4,a) (7,b) (10,b) a quarter each; generated
  // (7,a) 1/4, (10,a) 1/2, (10,b) 1/4. L1 = 3/4 + 1/4 + 1/2 = 1.5: score
  // 1 - 0.75.
  ASSERT_EQ(r.pairs.size(), 1u);
  EXPECT_EQ(r.pairs[0].metric, "ContingencySimilarity");
  EXPECT_DOUBLE_EQ(r.pairs[0].score, 0.25);
  EXPECT_DOUBLE_EQ(r.metrics.column_pairs, 0.25);
  EXPECT_DOUBLE_EQ(r.metrics.quality, (0.625 + 0.25) / 2);
  // RangeCoverage: 1 - (3 - 1) / 3; BoundaryAdherence: 3 and 4 of 4 inside.
  EXPECT_NEAR(r.columns[0].coverage, 1.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(r.columns[0].adherence, 0.5);
  EXPECT_DOUBLE_EQ(r.columns[1].coverage, 1.0);
  EXPECT_DOUBLE_EQ(r.columns[1].adherence, 1.0);
  EXPECT_NEAR(r.metrics.column_coverage, (1.0 / 3 + 1) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(r.metrics.adherence, 0.75);
  // Evaluate gives the same figures as Report.
  const EvalMetrics m = e->Evaluate(gen);
  EXPECT_EQ(m.quality, r.metrics.quality);
  EXPECT_EQ(m.column_pairs, r.metrics.column_pairs);
  // The report's bars: c's levels by real frequency, shares of all rows.
  EXPECT_EQ(r.columns[1].labels.size(), 2u);
  EXPECT_DOUBLE_EQ(r.columns[1].real[0] + r.columns[1].real[1], 1.0);
  ASSERT_EQ(r.columns[0].edges.size(), static_cast<size_t>(kReportBins + 1));
  EXPECT_DOUBLE_EQ(r.columns[0].edges.front(), 1);
  EXPECT_DOUBLE_EQ(r.columns[0].edges.back(), 4);
  double real_sum = 0, gen_sum = 0;
  for (double v : r.columns[0].real) real_sum += v;
  for (double v : r.columns[0].synthetic) gen_sum += v;
  EXPECT_DOUBLE_EQ(real_sum, 1.0);
  EXPECT_DOUBLE_EQ(gen_sum, 1.0);  // 5 and 6 clipped into the last bin
}

TEST(TableEval, CorrelationSimilarityMissingValuesAndIdenticalRows) {
  auto t = Parse("x,y,z\n1,2,1\n2,4,\n3,6,3\n4,8,\n5,1,2\n6,2,4\n", {"x", "y", "z"});
  auto e = Evaluator(t, 4);
  ASSERT_TRUE(e);
  // Real: r(x, y) = 1. Generated y reversed: r = -1, score 1 - 2/2 = 0.
  const std::vector<std::vector<double>> gen = {{1, 2, 3, 4}, {8, 6, 4, 2}, {1, 2, 3, kNaN}};
  const TableReport r = e->Report(gen);
  ASSERT_EQ(r.pairs.size(), 3u);
  EXPECT_EQ(r.pairs[0].metric, "CorrelationSimilarity");
  EXPECT_DOUBLE_EQ(r.pairs[0].real, 1.0);
  EXPECT_DOUBLE_EQ(r.pairs[0].synthetic, -1.0);
  EXPECT_DOUBLE_EQ(r.pairs[0].score, 0.0);
  // z: half the real cells missing, a quarter of the generated ones.
  EXPECT_DOUBLE_EQ(r.columns[2].missing_real, 0.5);
  EXPECT_DOUBLE_EQ(r.columns[2].missing_synthetic, 0.25);
  EXPECT_DOUBLE_EQ(r.metrics.missing_similarity, (1 + 1 + 0.75) / 3);
  EXPECT_EQ(r.columns[2].labels.back(), "(missing)");
  // The real rows themselves score 1 everywhere.
  const EvalMetrics same = e->Evaluate(e->real_values());
  EXPECT_DOUBLE_EQ(same.column_shapes, 1.0);
  EXPECT_DOUBLE_EQ(same.column_pairs, 1.0);
  EXPECT_DOUBLE_EQ(same.quality, 1.0);
  EXPECT_DOUBLE_EQ(same.missing_similarity, 1.0);
  EXPECT_DOUBLE_EQ(same.column_distance, 0.0);
}

TEST(TableEval, DistanceToClosestRecordByHand) {
  // Held-out (5,a) (7,b); training (0,a) (10,b): x's range 10.
  auto t = Parse("x,c\n5,a\n7,b\n0,a\n10,b\n", {"x"});
  auto e = Evaluator(t, 2);
  ASSERT_TRUE(e);
  const double a = Level(*t, 1, "a"), b = Level(*t, 1, "b");
  // (1,a): 0.05 from training, 0.2 from held-out: closer to training.
  // (6,b): 0.2 / 0.05. (0,a): a copy, 0 / 0.25. (5,b): 0.25 / 0.1.
  const TableReport r = e->Report({{1, 6, 0, 5}, {a, b, a, b}});
  ASSERT_TRUE(r.privacy);
  EXPECT_DOUBLE_EQ(r.privacy->dcr_share, 0.5);
  EXPECT_DOUBLE_EQ(r.privacy->exact_copies, 0.25);
  EXPECT_DOUBLE_EQ(r.privacy->holdout_exact_copies, 0.0);
  // numpy.percentile([0, .05, .2, .25], 5) = 0.0075; the held-out's own
  // distances to training are 0.25 and 0.15: 0.155.
  EXPECT_NEAR(r.privacy->dcr_p5, 0.0075, 1e-12);
  EXPECT_NEAR(r.privacy->holdout_dcr_p5, 0.155, 1e-12);
  EXPECT_EQ(r.privacy->reference_rows, 2);
  ASSERT_TRUE(r.metrics.dcr_share.has_value());
  EXPECT_DOUBLE_EQ(*r.metrics.dcr_share, 0.5);
  // Copies of the training rows: every row closer to training, all copies.
  const TableReport copies = e->Report({{0, 10, 0, 10}, {a, b, a, b}});
  EXPECT_DOUBLE_EQ(copies.privacy->dcr_share, 1.0);
  EXPECT_DOUBLE_EQ(copies.privacy->exact_copies, 1.0);
  EXPECT_NE(copies.privacy->verdict.find("copies training rows"), std::string::npos) << copies.privacy->verdict;
  // No held-out rows: no privacy figures.
  JobSpec spec = SpecFor(t);
  spec.eval_fraction = 0;
  auto none = TableEvaluator::Create(t, spec);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_FALSE((*none)->Evaluate({{1, 2}, {a, b}}).dcr_share.has_value());
}

// A table where y is a function of x: a model trained on the real rows
// predicts it; one trained on shuffled labels does not.
std::string Separable(int rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::ostringstream csv;
  csv << "x1,x2,noise,y,v\n";
  for (int i = 0; i < rows; ++i) {
    const double x1 = u(rng), x2 = u(rng), n = u(rng);
    csv << x1 << "," << x2 << "," << n << "," << (x1 + x2 > 0 ? "yes_class" : "no_class") << ","
        << 3 * x1 - 2 * x2 + 0.01 * n << "\n";
  }
  return csv.str();
}

TEST(TableEval, UtilityTrainsOnSyntheticAndTestsOnReal) {
  auto t = Parse(Separable(400, 7));
  JobSpec spec = SpecFor(t);
  spec.target = "y";
  auto e = Evaluator(t, 100, spec);
  ASSERT_TRUE(e);
  // The real training rows as "synthetic": utility equals the real baseline
  // (the same rows: the first eval_points of the training order).
  std::vector<std::vector<double>> train(t->values.size());
  for (size_t c = 0; c < t->values.size(); ++c) {
    for (int64_t r = 100; r < 400; ++r) train[c].push_back(t->values[c][static_cast<size_t>(r)]);
  }
  const TableReport r = e->Report(train);
  ASSERT_TRUE(r.utility);
  EXPECT_EQ(r.utility->task, "classification");
  EXPECT_EQ(r.utility->score_name, "macro_f1");
  EXPECT_GT(r.utility->real, 0.9);
  EXPECT_DOUBLE_EQ(r.utility->synthetic, r.utility->real);
  EXPECT_EQ(r.utility->test_rows, 100);
  EXPECT_EQ(r.utility->train_rows, 300);
  // Labels flipped: the model learns the opposite rule.
  std::vector<std::vector<double>> flipped = train;
  for (double& y : flipped[3]) y = 1 - y;
  const EvalMetrics m = e->Evaluate(flipped);
  ASSERT_TRUE(m.utility && m.utility_real);
  EXPECT_LT(*m.utility, 0.1);
  EXPECT_GT(*m.utility_real, 0.9);
  // Deterministic.
  EXPECT_EQ(*e->Evaluate(flipped).utility, *m.utility);
  // A numeric target: ridge regression, R^2 near 1 on real rows.
  spec.target = "v";
  auto reg = Evaluator(t, 100, spec);
  ASSERT_TRUE(reg);
  const TableReport rr = reg->Report(train);
  ASSERT_TRUE(rr.utility);
  EXPECT_EQ(rr.utility->score_name, "r2");
  EXPECT_GT(rr.utility->real, 0.99);
  EXPECT_DOUBLE_EQ(rr.utility->synthetic, rr.utility->real);
}

TEST(TableEval, StratifiedSplitKeepsEachLevelsShare) {
  std::ostringstream csv;
  csv << "x,label\n";
  for (int i = 0; i < 1000; ++i) csv << i << "," << (i % 10 == 0 ? "rare" : "common") << "\n";
  auto t = Parse(csv.str());
  JobSpec spec = SpecFor(t);
  spec.eval_fraction = 0.2;
  spec.target = "label";
  auto s = SplitTable(*t, spec);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->held_out.size(), 200u);
  EXPECT_EQ(s->train.size(), 800u);
  const int rare = Level(*t, 1, "rare");
  int held_rare = 0;
  for (int64_t r : s->held_out) held_rare += t->values[1][static_cast<size_t>(r)] == rare ? 1 : 0;
  EXPECT_NEAR(held_rare, 20, 1);
  std::set<int64_t> all(s->train.begin(), s->train.end());
  all.insert(s->held_out.begin(), s->held_out.end());
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(s->train_order.size(), 800u);
  // Without a target: the first rows of the permutation, as before.
  spec.target.clear();
  auto plain = SplitTable(*t, spec);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->held_out.size(), 200u);
  // An unknown target is named.
  spec.target = "nope";
  EXPECT_EQ(SplitTable(*t, spec).status().message(), "target: the table has no column 'nope'");
  EXPECT_NE(Validate(spec).message().find("target: the table has no column 'nope' (columns: x, label)"),
            std::string::npos)
      << Validate(spec).message();
}

TEST(TableEval, SpecChecksTheNewFields) {
  std::string csv = "x,c\n";
  for (int i = 0; i < 40; ++i) csv += std::to_string(i) + (i % 2 ? ",a\n" : ",b\n");
  auto t = Parse(csv);
  JobSpec s = SpecFor(t);
  s.batch_size = 10;
  EXPECT_EQ(s.select_by, Metric::kQuality);
  ASSERT_TRUE(Validate(s).ok()) << Validate(s).message();
  s.select_by = Metric::kUtility;
  EXPECT_EQ(Validate(s).message(), "select_by: utility needs a target column (target)");
  s.target = "c";
  EXPECT_TRUE(Validate(s).ok()) << Validate(s).message();
  s.max_dcr_share = 1.5;
  EXPECT_NE(Validate(s).message().find("max_dcr_share"), std::string::npos);
  s.max_dcr_share = 0.6;
  s.eval_fraction = 0;
  EXPECT_EQ(Validate(s).message(), "max_dcr_share needs held-out rows (eval_fraction > 0)");
  s.eval_fraction = 0.2;
  s.max_dcr_share = 0.6;
  EXPECT_EQ(Validate(s).message(),
            "max_dcr_share: needs at least 10 held-out rows to judge privacy; eval_fraction 0.2 of 40 rows holds out 8");
  s.max_dcr_share = 0;
  auto one = Parse("x,c\n1,a\n2,a\n3,a\n4,a\n5,a\n6,a\n7,a\n8,a\n9,a\n10,a\n");
  JobSpec single = SpecFor(one);
  single.target = "c";
  EXPECT_EQ(Validate(single).message(), "target: 'c' has 1 level; a target needs at least 2 to predict");
  JobSpec points;
  points.target = "c";
  EXPECT_EQ(Validate(points).message(), "target: for table jobs only");
  points.target.clear();
  points.select_by = Metric::kQuality;
  EXPECT_EQ(Validate(points).message(), "select_by: quality is for table jobs only");
  EXPECT_EQ(ParseMetric("dcr_share"), Metric::kDcrShare);
  EXPECT_FALSE(HigherIsBetter(Metric::kDcrShare));
  EXPECT_TRUE(HigherIsBetter(Metric::kQuality));
}

// A table of random combinations of three 8-level columns: unseen rows
// rarely equal a training row, so copies of training rows stand out.
std::string Combinations(int rows) {
  std::mt19937 rng(3);
  std::ostringstream csv;
  csv << "a,b,c\n";
  for (int i = 0; i < rows; ++i) csv << "a" << rng() % 8 << ",b" << rng() % 8 << ",c" << rng() % 8 << "\n";
  return csv.str();
}

// A table with structure a fresh generator lacks (y follows x, a is x's
// integer part) and unique two-decimal rows: training improves quality,
// and a generator that goes on to reproduce its training rows is closer to
// them than to the held-out ones.
std::string Memorable(int rows) {
  std::mt19937 rng(3);
  std::ostringstream csv;
  csv << "x,y,a\n";
  for (int i = 0; i < rows; ++i) {
    const double x = (rng() % 1000) / 100.0 + 0.01;
    const double y = x + ((rng() % 100) / 100.0 - 0.5);
    csv << x << "," << y << ",a" << static_cast<int>(x) << "\n";
  }
  return csv.str();
}

// Half the rows held out, small batches, no dropout, long training: made to
// memorise.
JobSpec MemorisingSpec(const std::string& csv, int64_t epochs) {
  JobSpec s = SpecFor(Parse(csv));
  s.eval_fraction = 0.5;
  s.batch_size = 40;
  s.pac = 1;
  s.latent_dim = 16;
  s.generator_hidden = {128, 128};
  s.discriminator_hidden = {128, 128};
  s.dropout = 0;
  s.learning_rate = 2e-3;
  s.epochs = epochs;
  s.eval_every = 20;
  s.eval_points = 400;
  s.weight_decay = 0;
  return s;
}

std::vector<EpochReport> TrainEvaluated(const JobSpec& spec, EpochReport* last = nullptr) {
  auto t = Trainer::Create(spec);
  EXPECT_TRUE(t.ok()) << t.status().message();
  std::vector<EpochReport> out;
  if (!t.ok()) return out;
  while (!(*t)->finished()) {
    auto r = (*t)->RunEpoch();
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) break;
    if (r->metrics) out.push_back(*r);
    if (last != nullptr) *last = *r;
  }
  for (const EpochReport& r : out) {
    std::printf("epoch %lld quality %.4f dcr_share %.3f exact_copies %.3f dcr_p5 %.4f holdout_dcr_p5 %.4f\n",
                static_cast<long long>(r.epoch), r.metrics->quality, r.metrics->dcr_share.value_or(-1),
                r.metrics->exact_copies.value_or(-1), r.metrics->dcr_p5.value_or(-1),
                r.metrics->holdout_dcr_p5.value_or(-1));
  }
  return out;
}

// The mean of f over the last quarter of the evaluations.
double LateMean(const std::vector<EpochReport>& ev, const std::function<double(const EvalMetrics&)>& f) {
  const size_t from = ev.size() - std::max<size_t>(1, ev.size() / 4);
  double s = 0;
  for (size_t i = from; i < ev.size(); ++i) s += f(*ev[i].metrics);
  return s / static_cast<double>(ev.size() - from);
}

TEST(TableEval, CopiedRowsAreCountedAgainstTheHeldOutsOwn) {
  const JobSpec spec = MemorisingSpec(Combinations(80), 400);
  const std::vector<EpochReport> ev = TrainEvaluated(spec);
  ASSERT_GE(ev.size(), 8u);
  // The held-out rows that equal a training row, the baseline, come from
  // the split alone: the same at every evaluation.
  auto evaluator = TableEvaluator::Create(spec.dataset.table.data, spec);
  ASSERT_TRUE(evaluator.ok()) << evaluator.status().message();
  const TableReport baseline = (*evaluator)->Report((*evaluator)->real_values());
  ASSERT_TRUE(baseline.privacy);
  const double held_copies = baseline.privacy->holdout_exact_copies;
  const double copies_late = LateMean(ev, [](const EvalMetrics& m) { return *m.exact_copies; });
  EXPECT_LT(*ev.front().metrics->exact_copies, 0.2);
  EXPECT_GT(copies_late, 0.4);
  EXPECT_GT(copies_late, 3 * *ev.front().metrics->exact_copies);
  EXPECT_GT(copies_late, 2 * held_copies) << "held-out rows equal to a training row: " << held_copies;
}

TEST(TableEval, AMemorisingJobIsFlaggedAndNotPickedUnderTheConstraint) {
  JobSpec spec = MemorisingSpec(Memorable(60), 800);
  const std::vector<EpochReport> ev = TrainEvaluated(spec);
  ASSERT_GE(ev.size(), 20u);
  const EvalMetrics& first = *ev.front().metrics;
  // Flagged: by the end most generated rows are closer to the training rows
  // than to any unseen row, and their 5th-percentile distance is below what
  // unseen real rows show.
  EXPECT_LT(*first.dcr_share, 0.6);
  EXPECT_GT(LateMean(ev, [](const EvalMetrics& m) { return *m.dcr_share; }), 0.7);
  EXPECT_LT(LateMean(ev, [](const EvalMetrics& m) { return *m.dcr_p5; }), *first.holdout_dcr_p5);
  // Without the constraint the best epoch by quality is a memorising one.
  const int64_t free_best = ev.back().best_epoch;
  const EpochReport* free_pick = nullptr;
  for (const auto& r : ev) {
    if (r.epoch == free_best) free_pick = &r;
  }
  ASSERT_NE(free_pick, nullptr);
  EXPECT_GT(*free_pick->metrics->dcr_share, 0.6);
  // With max_dcr_share 0.6 the same run (the constraint changes no draw)
  // picks the best epoch by quality among those within it.
  spec.max_dcr_share = 0.6;
  EpochReport end;
  const std::vector<EpochReport> constrained = TrainEvaluated(spec, &end);
  ASSERT_EQ(constrained.size(), ev.size());
  ASSERT_GT(end.best_epoch, 0);
  ASSERT_TRUE(end.best_metrics && end.best_metrics->dcr_share);
  EXPECT_LE(*end.best_metrics->dcr_share, 0.6);
  double best_allowed = -1;
  int64_t best_allowed_epoch = 0;
  for (const auto& r : ev) {
    if (*r.metrics->dcr_share <= 0.6 && r.metrics->quality > best_allowed) {
      best_allowed = r.metrics->quality;
      best_allowed_epoch = r.epoch;
    }
  }
  EXPECT_EQ(end.best_epoch, best_allowed_epoch);
  EXPECT_NE(end.best_epoch, free_best);
  EXPECT_EQ(end.best_metrics->quality, best_allowed);
}

}  // namespace
}  // namespace gantry
