// Tables in core: CSV parsing and typing, cells, the Gaussian mixture, the
// codec, the column distance, and the table trainer's exactness (same seed,
// same bits; save and restore mid-run) and conditional sampling.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>

#include "core/random.h"
#include "core/snapshot.h"
#include "core/table.h"
#include "core/table_codec.h"
#include "core/table_quality.h"
#include "core/table_sample.h"
#include "core/table_trainer.h"
#include "core/trainer.h"

namespace gantry {
namespace {

Table Parse(const std::string& csv, TableOptions opt = {}) {
  auto t = ParseTable(csv, opt);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t).value() : Table{};
}

std::string ErrorOf(const std::string& csv, TableOptions opt = {}) {
  auto t = ParseTable(csv, opt);
  EXPECT_FALSE(t.ok());
  return t.ok() ? "" : t.status().message();
}

TEST(TableParse, InfersEveryTypeAndKeepsNames) {
  const Table t = Parse(
      "flag,when,code,count,price,city,note\n"
      "true,2024-01-31,3,100,1.5,Paris,x\n"
      "false,2024-02-01,1,250,2.25,\"Lyon, FR\",\n"
      "TRUE,2024-02-03,3,17,NA,Paris,y\n"
      "false,,2,18,0.125,Nice,z\n"
      "true,2024-03-01,1,19,3,Paris,w\n"
      "true,2024-03-02,1,20,4,Paris,v\n"
      "true,2024-03-03,1,21,5,Paris,u\n"
      "true,2024-03-04,1,22,6,Paris,t\n"
      "true,2024-03-05,1,23,7,Paris,s\n"
      "true,2024-03-06,1,24,8,Paris,r\n"
      "true,2024-03-07,1,25,9,Paris,q\n"
      "true,2024-03-08,1,26,10,Paris,p\n"
      "true,2024-03-09,1,27,11,Paris,o\n"
      "true,2024-03-10,1,28,12,Paris,n\n"
      "true,2024-03-11,1,29,13,Paris,m\n"
      "true,2024-03-12,1,30,14,Paris,l\n"
      "true,2024-03-13,1,31,15,Paris,k\n");
  ASSERT_EQ(t.schema.columns.size(), 7u);
  EXPECT_EQ(t.rows(), 17);
  const auto& c = t.schema.columns;
  EXPECT_EQ(c[0].name, "flag");
  EXPECT_EQ(c[0].type, ColumnType::kBoolean);
  EXPECT_EQ(c[0].levels, (std::vector<std::string>{"false", "true"}));
  EXPECT_EQ(c[1].type, ColumnType::kDatetime);
  EXPECT_EQ(c[1].datetime_format, "%Y-%m-%d");
  EXPECT_EQ(c[1].missing, 1);
  EXPECT_EQ(c[2].type, ColumnType::kCategorical);  // 3 integer codes
  EXPECT_TRUE(c[2].integer_codes);
  EXPECT_EQ(c[2].levels, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(c[3].type, ColumnType::kInteger);      // 17 distinct integers
  EXPECT_EQ(c[3].min, 17);
  EXPECT_EQ(c[3].max, 250);
  EXPECT_EQ(c[4].type, ColumnType::kContinuous);
  EXPECT_EQ(c[4].decimals, 3);
  EXPECT_EQ(c[4].missing, 1);
  EXPECT_EQ(c[5].type, ColumnType::kCategorical);
  EXPECT_EQ(c[5].levels, (std::vector<std::string>{"Lyon, FR", "Nice", "Paris"}));
  EXPECT_EQ(c[6].missing, 1);
  EXPECT_TRUE(std::isnan(t.values[4][2]));
  EXPECT_EQ(FormatCell(c[1], t.values[1][0]), "2024-01-31");
  EXPECT_EQ(FormatCell(c[5], t.values[5][1]), "Lyon, FR");
  EXPECT_EQ(FormatCell(c[4], t.values[4][3]), "0.125");
  EXPECT_EQ(FormatCell(c[0], t.values[0][2]), "true");  // the first spelling seen
}

TEST(TableParse, SemicolonsQuotesNewlinesUnicode) {
  const Table t = Parse("\xEF\xBB\xBF\"na\xC3\xAFve\";\"Stra\xC3\x9F" "e\"\n\"a;b\";\"line\none\"\n\"x\"\"y\";z\n");
  ASSERT_EQ(t.schema.columns.size(), 2u);
  EXPECT_EQ(t.schema.delimiter, ';');
  EXPECT_EQ(t.schema.columns[0].name, "na\xC3\xAFve");
  EXPECT_EQ(t.schema.columns[1].name, "Stra\xC3\x9F" "e");
  EXPECT_EQ(t.schema.columns[0].levels, (std::vector<std::string>{"a;b", "x\"y"}));
  EXPECT_EQ(t.schema.columns[1].levels, (std::vector<std::string>{"line\none", "z"}));
}

TEST(TableParse, ErrorsNameFileLineAndColumn) {
  TableOptions opt;
  opt.file_name = "t.csv";
  EXPECT_EQ(ErrorOf("a,b\n1,2\n3\n4,5\n", opt), "t.csv: line 3: 1 fields, but the header has 2");
  EXPECT_EQ(ErrorOf("a,a\n1,2\n3,4\n", opt), "t.csv: line 1: column 'a' is named twice in the header");
  EXPECT_NE(ErrorOf("a,b\n1,\"2\n3,4\n", opt).find("t.csv: line 3"), std::string::npos);
  opt.overrides["b"] = ColumnType::kInteger;
  EXPECT_EQ(ErrorOf("a,b\n1,2\n3,4.5\n", opt),
            "t.csv: line 3, column 'b': '4.5' is not an integer (the column is read as integer)");
  opt.overrides = {{"zz", ColumnType::kCategorical}};
  EXPECT_EQ(ErrorOf("a,b\n1,2\n3,4\n", opt), "t.csv: no column 'zz' to read as categorical");
  EXPECT_EQ(ErrorOf("a,b\n1,2\n", opt), "t.csv: 1 data rows; a table needs at least 2");
  EXPECT_EQ(ErrorOf("", opt), "t.csv: empty file (no header)");
}

TEST(TableParse, CategoryLevelBoundAndOverrides) {
  std::string ok = "c\n", over = "c\n";
  for (int i = 0; i < 1000; ++i) ok += "level" + std::to_string(i) + "\n";
  for (int i = 0; i < 1001; ++i) over += "level" + std::to_string(i) + "\n";
  EXPECT_EQ(Parse(ok).schema.columns[0].levels.size(), 1000u);
  EXPECT_NE(ErrorOf(over).find("more than 1000 distinct values"), std::string::npos);
  // An all-missing column is categorical with no level; a code column can be read as integer.
  TableOptions opt;
  opt.overrides["code"] = ColumnType::kInteger;
  const Table t = Parse("empty,code\n,1\nNA,2\n,1\n", opt);
  EXPECT_EQ(t.schema.columns[0].type, ColumnType::kCategorical);
  EXPECT_EQ(t.schema.columns[0].missing, 3);
  EXPECT_EQ(t.schema.columns[1].type, ColumnType::kInteger);
}

TEST(TableCells, ParseCellNamesTheColumnAndLevels) {
  const Table t = Parse("occupation,age\n1,20.5\n2,30\n3,40\n");
  const ColumnSchema& occ = t.schema.columns[0];
  EXPECT_EQ(*ParseCell(occ, "3"), 2);
  EXPECT_EQ(*ParseCell(occ, "3.0"), 2);  // the code 3 written as a float
  auto bad = ParseCell(occ, "7");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "occupation: '7' is not a level of this column (levels: 1, 2, 3)");
  EXPECT_FALSE(ParseCell(t.schema.columns[1], "abc").ok());
}

TEST(TableMixture, FindsSeparatedModesAndHandlesConstants) {
  at::Generator gen = MakeCpuGenerator(1);
  const at::Tensor a = torch::randn({3000}, gen, torch::kDouble) * 0.5 - 10;
  const at::Tensor b = torch::randn({1000}, gen, torch::kDouble) * 2 + 20;
  std::vector<double> v(a.data_ptr<double>(), a.data_ptr<double>() + 3000);
  v.insert(v.end(), b.data_ptr<double>(), b.data_ptr<double>() + 1000);
  const Mixture m = FitMixture(v, 10);
  ASSERT_GE(m.means.size(), 2u);
  // The weight near each true mean adds up to its share.
  double w_low = 0, w_high = 0;
  for (size_t k = 0; k < m.means.size(); ++k) (m.means[k] < 5 ? w_low : w_high) += m.weights[k];
  EXPECT_NEAR(w_low, 0.75, 0.02);
  EXPECT_NEAR(w_high, 0.25, 0.02);
  const Mixture c = FitMixture(std::vector<double>(50, 4.0), 10);
  ASSERT_EQ(c.means.size(), 1u);
  EXPECT_EQ(c.means[0], 4.0);
  EXPECT_GT(c.stds[0], 0);
  // Deterministic: the same values give the same mixture.
  const Mixture again = FitMixture(v, 10);
  EXPECT_EQ(again.means, m.means);
  EXPECT_EQ(again.stds, m.stds);
}

TEST(TableQuality, KnownDistances) {
  const Table t = Parse("x,c\n1,a\n2,b\n3,a\n4,b\n");
  const ColumnSchema& x = t.schema.columns[0];
  const ColumnSchema& c = t.schema.columns[1];
  EXPECT_EQ(ColumnDistance(x, {1, 2, 3}, {1, 2, 3}), 0);
  EXPECT_EQ(ColumnDistance(x, {1, 2}, {3, 4}), 1);
  EXPECT_DOUBLE_EQ(ColumnDistance(x, {1, 2, 3, 4}, {3, 4, 5, 6}), 0.5);
  const double nan = std::nan("");
  // Half missing against none missing: (1 - 0.5) * ks(0) + 0.5.
  EXPECT_DOUBLE_EQ(ColumnDistance(x, {1, nan}, {1, 1}), 0.5);
  EXPECT_DOUBLE_EQ(ColumnDistance(c, {0, 0, 1, 1}, {0, 0, 0, 1}), 0.25);
  EXPECT_DOUBLE_EQ(ColumnDistance(c, {0, nan}, {0, 0}), 0.5);
  EXPECT_DOUBLE_EQ(MeanColumnDistance(t.schema, {{1, 2}, {0, 0}}, {{3, 4}, {0, 0}}), 0.5);
}

// A mixed table with structure: y depends on the category, some cells missing.
std::shared_ptr<const Table> SmallTable(int rows = 400) {
  std::string csv = "kind,size,flag,day,note\n";
  for (int i = 0; i < rows; ++i) {
    const int kind = i % 4;
    const double size = kind * 10 + (i % 7) * 0.5;
    csv += std::to_string(kind + 1) + "," + (i % 13 == 0 ? std::string("") : std::to_string(size)) + "," +
           (i % 3 ? "yes" : "no") + ",2024-01-" + (i % 28 < 9 ? "0" : "") + std::to_string(i % 28 + 1) + "," +
           (i % 5 == 0 ? "NA" : (i % 2 ? "alpha" : "beta")) + "\n";
  }
  TableOptions opt;
  opt.file_name = "small.csv";
  auto t = ParseTable(csv, opt);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::make_shared<Table>(std::move(t).value());
}

JobSpec SmallSpec() {
  JobSpec s = TableDefaults();
  s.dataset.table.data = SmallTable();
  s.latent_dim = 16;
  s.generator_hidden = {32, 32};
  s.discriminator_hidden = {32, 32};
  s.batch_size = 100;
  s.epochs = 6;
  s.eval_every = 2;
  s.eval_points = 200;
  s.seed = 7;
  return s;
}

TEST(TableCodec, EncodesAndDecodesRows) {
  auto table = SmallTable();
  auto codec = TableCodec::Fit(*table, {}, 10);
  ASSERT_TRUE(codec.ok()) << codec.status().message();
  const TableCodec& c = **codec;
  // kind 4 levels, flag 2, note 2 + missing: the conditional vector.
  EXPECT_EQ(c.cond_width(), 4 + 2 + 3);
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < table->rows(); ++r) rows.push_back(r);
  at::Generator gen = MakeCpuGenerator(3);
  const at::Tensor enc = c.Encode(*table, rows, gen);
  ASSERT_EQ(enc.size(0), table->rows());
  ASSERT_EQ(enc.size(1), c.width());
  // As logits, a one-hot scaled up decodes to its own category whatever the
  // Gumbel noise; tanh undoes atanh on the scalars.
  at::Tensor logits = enc.clone();
  for (const Span& s : c.spans()) {
    if (s.softmax) {
      logits.narrow(1, s.start, s.count * s.dim).mul_(200);
    } else {
      logits.narrow(1, s.start, s.dim).copy_(torch::atanh(enc.narrow(1, s.start, s.dim)));
    }
  }
  const auto back = c.Decode(logits, gen);
  for (size_t col = 0; col < table->values.size(); ++col) {
    for (int64_t r = 0; r < table->rows(); ++r) {
      const double want = table->values[col][static_cast<size_t>(r)];
      const double got = back[col][static_cast<size_t>(r)];
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << table->schema.columns[col].name << " row " << r;
      } else {
        EXPECT_NEAR(got, want, 1e-3 * std::max(1.0, std::fabs(want)))
            << table->schema.columns[col].name << " row " << r;
      }
    }
  }
  // The codec survives a save and load.
  std::map<std::string, at::Tensor> saved;
  c.Save(&saved);
  auto loaded = TableCodec::Load(saved);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ((*loaded)->width(), c.width());
  EXPECT_EQ(SchemaToText((*loaded)->schema()), SchemaToText(c.schema()));
}

std::vector<EpochReport> Train(Trainer& t, int epochs) {
  std::vector<EpochReport> out;
  for (int i = 0; i < epochs; ++i) {
    auto r = t.RunEpoch();
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) break;
    out.push_back(*r);
  }
  return out;
}

void ExpectSameBits(const EpochReport& a, const EpochReport& b) {
  EXPECT_EQ(std::memcmp(&a.loss_d, &b.loss_d, sizeof(double)), 0) << "epoch " << a.epoch;
  EXPECT_EQ(std::memcmp(&a.loss_g, &b.loss_g, sizeof(double)), 0) << "epoch " << a.epoch;
  EXPECT_EQ(std::memcmp(&a.last_loss_d, &b.last_loss_d, sizeof(double)), 0) << "epoch " << a.epoch;
  EXPECT_EQ(a.quality, b.quality);
  EXPECT_EQ(a.best_epoch, b.best_epoch);
}

TEST(TableTrainer, SameSeedSameBitsAndExactResume) {
  const JobSpec spec = SmallSpec();
  auto a = Trainer::Create(spec);
  ASSERT_TRUE(a.ok()) << a.status().message();
  const auto full = Train(**a, 6);
  ASSERT_EQ(full.size(), 6u);
  EXPECT_TRUE((*a)->finished());
  EXPECT_TRUE(full[0].metrics.has_value());
  EXPECT_FALSE(full[2].metrics.has_value());
  EXPECT_GT(full[0].metrics->column_distance, 0);
  EXPECT_LT(full[0].metrics->column_distance, 1);
  EXPECT_GE(full.back().best_epoch, 1);

  auto b = Trainer::Create(spec);
  ASSERT_TRUE(b.ok());
  const auto first = Train(**b, 3);
  auto state = (*b)->SaveState();
  ASSERT_TRUE(state.ok()) << state.status().message();
  auto c = Trainer::Create(spec);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->RestoreState(*state).ok());
  EXPECT_EQ((*c)->epochs_done(), 3);
  const auto rest = Train(**c, 3);
  for (int i = 0; i < 3; ++i) ExpectSameBits(first[static_cast<size_t>(i)], full[static_cast<size_t>(i)]);
  for (int i = 0; i < 3; ++i) ExpectSameBits(rest[static_cast<size_t>(i)], full[static_cast<size_t>(i + 3)]);

  // Same samples from both, through a serialised snapshot too.
  auto snap = (*a)->Snapshot();
  auto bytes = SerializeSnapshot(*snap);
  ASSERT_TRUE(bytes.ok());
  auto back = DeserializeSnapshot(*bytes);
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_TRUE((*back)->table() != nullptr);
  std::vector<std::vector<double>> x, y, z;
  ASSERT_TRUE(TableRowStream(snap, 5, {}, 0, 300).Next(300, &x).ok());
  ASSERT_TRUE(TableRowStream(*back, 5, {}, 0, 300).Next(300, &y).ok());
  ASSERT_TRUE(TableRowStream((*c)->Snapshot(), 5, {}, 0, 300).Next(300, &z).ok());
  for (size_t col = 0; col < x.size(); ++col) {
    for (size_t r = 0; r < 300; ++r) {
      const bool nx = std::isnan(x[col][r]);
      EXPECT_EQ(nx, std::isnan(y[col][r]));
      EXPECT_EQ(nx, std::isnan(z[col][r]));
      if (!nx) {
        EXPECT_EQ(x[col][r], y[col][r]);
        EXPECT_EQ(x[col][r], z[col][r]);
      }
    }
  }
  // A range of rows starting anywhere (here across a block boundary) equals
  // the same rows of the whole, in every column.
  std::vector<std::vector<double>> part, whole;
  ASSERT_TRUE(TableRowStream(snap, 5, {}, 4090, 10).Next(10, &part).ok());
  ASSERT_TRUE(TableRowStream(snap, 5, {}, 0, 4100).Next(4100, &whole).ok());
  for (size_t col = 0; col < whole.size(); ++col) {
    for (size_t r = 0; r < 10; ++r) {
      const double w = whole[col][4090 + r];
      EXPECT_EQ(std::isnan(part[col][r]), std::isnan(w)) << "column " << col << " row " << r;
      if (!std::isnan(w)) EXPECT_EQ(part[col][r], w) << "column " << col << " row " << r;
    }
  }
}

TEST(TableSample, ConditionsAreMetOrRefusedClearly) {
  JobSpec spec = SmallSpec();
  spec.epochs = 2;
  auto t = Trainer::Create(spec);
  ASSERT_TRUE(t.ok());
  Train(**t, 2);
  auto snap = (*t)->Snapshot();
  const TableSchema& schema = snap->table()->schema();
  auto where = ParseConditions(schema, {{"kind", "3"}, {"flag", "yes"}});
  ASSERT_TRUE(where.ok()) << where.status().message();
  std::vector<std::vector<double>> rows;
  ASSERT_TRUE(TableRowStream(snap, 1, *where, 0, 500).Next(500, &rows).ok());
  ASSERT_EQ(rows[0].size(), 500u);
  for (size_t r = 0; r < 500; ++r) {
    EXPECT_EQ(FormatCell(schema.columns[0], rows[0][r]), "3");
    EXPECT_EQ(FormatCell(schema.columns[2], rows[2][r]), "yes");
  }
  auto range = ParseConditions(schema, {{"size", "10..20"}});
  ASSERT_TRUE(range.ok()) << range.status().message();
  std::vector<std::vector<double>> in_range;
  ASSERT_TRUE(TableRowStream(snap, 1, *range, 0, 100).Next(100, &in_range).ok());
  for (double v : in_range[1]) {
    EXPECT_GE(v, 10);
    EXPECT_LE(v, 20);
  }
  auto unknown = ParseConditions(schema, {{"kind", "9"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "where: kind: '9' is not a level of this column (levels: 1, 2, 3, 4)");
  auto outside = ParseConditions(schema, {{"size", "1000"}});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("outside the column's range"), std::string::npos);
  EXPECT_FALSE(ParseConditions(schema, {{"nope", "1"}}).ok());
  EXPECT_FALSE(ParseConditions(schema, {{"kind", "1..2"}}).ok());
  // A condition the generator (barely trained) almost never meets runs out of budget.
  auto exact = ParseConditions(schema, {{"size", "10.25"}});
  ASSERT_TRUE(exact.ok());
  std::vector<std::vector<double>> few;
  Status s = TableRowStream(snap, 1, *exact, 0, 500).Next(500, &few);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("met the conditions"), std::string::npos) << s.message();
}

TEST(TableTrainer, EarlyStoppingEndsWithItsReasonAndResumesIntoIt) {
  JobSpec spec = SmallSpec();
  spec.epochs = 200;
  spec.eval_every = 1;
  spec.patience = 2;
  spec.min_delta = 0.5;  // no epoch improves by half the whole range: stops after 1 + 2
  auto t = Trainer::Create(spec);
  ASSERT_TRUE(t.ok());
  std::vector<EpochReport> reports;
  while (!(*t)->finished()) {
    auto r = (*t)->RunEpoch();
    ASSERT_TRUE(r.ok()) << r.status().message();
    reports.push_back(*r);
  }
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_NE(reports.back().stop_reason.find("early stopping: quality did not improve"), std::string::npos)
      << reports.back().stop_reason;
  EXPECT_GE(reports.back().best_epoch, 1);
  EXPECT_EQ((*t)->RunEpoch().status().code(), StatusCode::kFailedPrecondition);
  // A trainer restored from the stopped state is stopped too.
  auto state = (*t)->SaveState();
  ASSERT_TRUE(state.ok());
  auto again = Trainer::Create(spec);
  ASSERT_TRUE((*again)->RestoreState(*state).ok());
  EXPECT_TRUE((*again)->finished());
  EXPECT_EQ((*again)->best_epoch(), (*t)->best_epoch());
}

TEST(TableSpec, ValidationNamesTheField) {
  JobSpec s = SmallSpec();
  s.batch_size = 105;
  EXPECT_EQ(Validate(s).message(), "batch_size: 105 is not a multiple of pac 10");
  s = SmallSpec();
  s.loss = Loss::kBce;
  EXPECT_EQ(Validate(s).message(), "loss: table jobs train CTGAN's wgan_gp game, not bce");
  s = SmallSpec();
  s.select_by = Metric::kSlicedW1;
  EXPECT_NE(Validate(s).message().find("column_distance"), std::string::npos);
  s = SmallSpec();
  s.dataset.table.data = nullptr;
  EXPECT_NE(Validate(s).message().find("dataset.table.table_id"), std::string::npos);
  JobSpec points;
  points.select_by = Metric::kColumnDistance;
  EXPECT_EQ(Validate(points).message(), "select_by: column_distance is for table jobs only");
}

}  // namespace
}  // namespace gantry
