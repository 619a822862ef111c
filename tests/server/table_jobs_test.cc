// Table jobs through a real server on loopback: an uploaded table trained
// by the CTGAN-class model, its effective schema, typed and conditional
// samples (unary and streamed), and the errors a user meets.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/server/harness.h"

namespace gantry::testing {
namespace {

// 300 rows: a code column, a float depending on it, a text column with
// missing cells, a boolean.
std::string People() {
  std::string csv = "grade,score,city,member\n";
  const char* cities[] = {"Paris", "Lyon", "Nice"};
  for (int i = 0; i < 300; ++i) {
    const int grade = i % 3 + 1;
    csv += std::to_string(grade) + "," + std::to_string(grade * 10 + (i % 11) * 0.25) + "," +
           (i % 17 == 0 ? "" : cities[i % 3]) + "," + (i % 2 ? "true" : "false") + "\n";
  }
  return csv;
}

class TableJobsTest : public ServerHarness {
 protected:
  void SetUp() override { StartServer(); }

  std::string Upload(const std::string& name, const std::string& bytes) {
    grpc::ClientContext ctx;
    v1::TableInfo info;
    auto writer = stub_->UploadTable(&ctx, &info);
    v1::UploadTableRequest req;
    req.set_name(name);
    req.set_chunk(bytes);
    EXPECT_TRUE(writer->Write(req));
    writer->WritesDone();
    const grpc::Status s = writer->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    return info.id();
  }

  v1::JobSpec TableSpec(const std::string& table_id, int64_t epochs = 3) {
    v1::JobSpec spec;
    spec.mutable_dataset()->set_kind(v1::DATASET_KIND_TABLE);
    spec.mutable_dataset()->mutable_table()->set_table_id(table_id);
    spec.set_epochs(epochs);
    spec.set_latent_dim(16);
    spec.mutable_generator_hidden()->add_sizes(32);
    spec.mutable_discriminator_hidden()->add_sizes(32);
    spec.set_batch_size(100);
    spec.set_eval_points(200);
    return spec;
  }

  grpc::Status Sample(const v1::SampleRequest& req, v1::SampleResponse* out) {
    grpc::ClientContext ctx;
    return stub_->Sample(&ctx, req, out);
  }

  std::vector<v1::SampleResponse> Stream(const v1::SampleRequest& req, grpc::Status* status) {
    grpc::ClientContext ctx;
    auto reader = stub_->SampleStream(&ctx, req);
    std::vector<v1::SampleResponse> out;
    v1::SampleResponse r;
    while (reader->Read(&r)) out.push_back(r);
    *status = reader->Finish();
    return out;
  }
};

const v1::Column& ColumnNamed(const v1::Rows& rows, const std::string& name) {
  for (const auto& c : rows.columns()) {
    if (c.name() == name) return c;
  }
  ADD_FAILURE() << "no column " << name;
  return rows.columns(0);
}

TEST_F(TableJobsTest, TrainsSamplesTypedRowsAndMeetsConditions) {
  const std::string table = Upload("people.csv", People());
  v1::JobSpec spec = TableSpec(table);
  spec.mutable_dataset()->mutable_table()->add_continuous("grade");  // an override: codes read as numbers
  v1::Job created;
  ASSERT_TRUE(Create(spec, &created).ok());
  // The effective spec: CTGAN's defaults where unset, the schema with the override.
  EXPECT_EQ(created.spec().learning_rate(), 2e-4);
  EXPECT_EQ(created.spec().beta1(), 0.5);
  EXPECT_EQ(created.spec().loss(), "wgan_gp");
  EXPECT_EQ(created.spec().pac(), 10);
  EXPECT_EQ(created.spec().select_by(), "quality");
  ASSERT_EQ(created.table_schema().columns_size(), 4);
  EXPECT_EQ(created.table_schema().columns(0).type(), v1::COLUMN_TYPE_CONTINUOUS);
  EXPECT_EQ(created.table_schema().columns(2).type(), v1::COLUMN_TYPE_CATEGORICAL);
  EXPECT_EQ(created.table_schema().columns(2).missing(), 18);
  EXPECT_EQ(created.table_schema().columns(3).type(), v1::COLUMN_TYPE_BOOLEAN);
  EXPECT_EQ(created.dataset_rows(), 240);  // 20% held out
  const v1::Job done = WaitForEnd(created.id());
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.error();
  EXPECT_GT(done.best_metrics().column_distance(), 0);
  EXPECT_LT(done.best_metrics().column_distance(), 1);
  EXPECT_GT(done.best_metrics().quality(), 0);
  EXPECT_LE(done.best_metrics().quality(), 1);
  EXPECT_TRUE(done.best_metrics().has_dcr_share());
  EXPECT_FALSE(done.best_metrics().has_utility());  // no target

  // Typed rows with the table's names.
  v1::SampleRequest req;
  req.set_job_id(created.id());
  req.set_count(500);
  req.set_seed(9);
  v1::SampleResponse all;
  ASSERT_TRUE(Sample(req, &all).ok());
  ASSERT_EQ(all.rows().count(), 500);
  ASSERT_EQ(all.rows().columns_size(), 4);
  EXPECT_EQ(ColumnNamed(all.rows(), "grade").doubles_size(), 500);
  EXPECT_EQ(ColumnNamed(all.rows(), "city").strings_size(), 500);
  EXPECT_EQ(ColumnNamed(all.rows(), "member").bools_size(), 500);
  for (const std::string& c : ColumnNamed(all.rows(), "city").strings()) {
    EXPECT_TRUE(c.empty() || c == "Paris" || c == "Lyon" || c == "Nice") << c;
  }
  for (double g : ColumnNamed(all.rows(), "grade").doubles()) {
    EXPECT_GE(g, 1);
    EXPECT_LE(g, 3);
  }

  // Conditions: a categorical one steers the conditional vector, a range is
  // met by rejection; a stream in chunks gives the same rows as one call.
  req.add_where()->set_column("city");
  req.mutable_where(0)->set_value("Lyon");
  v1::Condition* range = req.add_where();
  range->set_column("score");
  range->set_value("10..25");
  v1::SampleResponse met;
  ASSERT_TRUE(Sample(req, &met).ok());
  ASSERT_EQ(met.rows().count(), 500);
  for (const std::string& c : ColumnNamed(met.rows(), "city").strings()) EXPECT_EQ(c, "Lyon");
  for (double s : ColumnNamed(met.rows(), "score").doubles()) {
    EXPECT_GE(s, 10);
    EXPECT_LE(s, 25);
  }
  grpc::Status st;
  const auto chunks = Stream(req, &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::vector<double> streamed;
  for (const auto& chunk : chunks) {
    for (double s : ColumnNamed(chunk.rows(), "score").doubles()) streamed.push_back(s);
  }
  const auto& unary = ColumnNamed(met.rows(), "score").doubles();
  EXPECT_EQ(streamed, std::vector<double>(unary.begin(), unary.end()));

  // Errors that name what is wrong.
  v1::SampleRequest bad = req;
  bad.mutable_where(0)->set_value("Rome");
  v1::SampleResponse ignored;
  st = Sample(bad, &ignored);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "where: city: 'Rome' is not a level of this column (levels: Lyon, Nice, Paris)");
  bad = req;
  bad.mutable_where(1)->set_value("100..200");
  st = Sample(bad, &ignored);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("outside the column's range"), std::string::npos) << st.error_message();

  grpc::ClientContext ctx;
  v1::ExportGeneratorRequest ereq;
  ereq.set_job_id(created.id());
  auto reader = stub_->ExportGenerator(&ctx, ereq);
  v1::ExportChunk chunk;
  while (reader->Read(&chunk)) {
  }
  st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(TableJobsTest, SameSpecSameBits) {
  const std::string table = Upload("people.csv", People());
  const std::string a = MustCreate(TableSpec(table, 4));
  const std::string b = MustCreate(TableSpec(table, 4));
  WaitForEnd(a);
  WaitForEnd(b);
  std::vector<v1::JobEvent> ea, eb;
  ASSERT_TRUE(Watch(a, 0, &ea).ok());
  ASSERT_TRUE(Watch(b, 0, &eb).ok());
  auto losses = [](const std::vector<v1::JobEvent>& events) {
    std::vector<double> out;
    for (const auto& e : events) {
      if (!e.has_epoch()) continue;
      out.push_back(e.epoch().loss_d());
      out.push_back(e.epoch().loss_g());
      out.push_back(e.epoch().quality());
    }
    return out;
  };
  ASSERT_EQ(losses(ea).size(), 12u);
  EXPECT_EQ(losses(ea), losses(eb));
  v1::SampleRequest req;
  req.set_count(50);
  req.set_seed(3);
  v1::SampleResponse ra, rb;
  req.set_job_id(a);
  ASSERT_TRUE(Sample(req, &ra).ok());
  req.set_job_id(b);
  ASSERT_TRUE(Sample(req, &rb).ok());
  EXPECT_EQ(ra.rows().SerializeAsString(), rb.rows().SerializeAsString());
}

TEST_F(TableJobsTest, BadTableJobsAreRefusedNamingTheField) {
  const std::string table = Upload("people.csv", People());
  v1::Job job;
  v1::JobSpec spec = TableSpec(table);
  spec.mutable_dataset()->mutable_table()->add_integer("score");
  grpc::Status s = Create(spec, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "dataset.table: people.csv: line 3, column 'score': '20.250000' is not an integer (the column is "
            "read as integer)");
  spec = TableSpec(table);
  spec.mutable_dataset()->mutable_table()->add_categorical("nope");
  s = Create(spec, &job);
  EXPECT_EQ(s.error_message(), "dataset.table: people.csv: no column 'nope' to read as categorical");
  spec = TableSpec(std::string(64, 'a'));
  s = Create(spec, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("no table"), std::string::npos) << s.error_message();
  spec = TableSpec(table);
  spec.set_batch_size(105);
  s = Create(spec, &job);
  EXPECT_EQ(s.error_message(), "batch_size: 105 is not a multiple of pac 10");
  spec = TableSpec(table);
  spec.set_loss("bce");
  s = Create(spec, &job);
  EXPECT_EQ(s.error_message(), "loss: table jobs train CTGAN's wgan_gp game, not bce");
  // Conditions on a point job.
  const std::string points = MustCreate(SmallSpec(1));
  WaitForEnd(points);
  v1::SampleRequest req;
  req.set_job_id(points);
  req.set_count(5);
  req.add_where()->set_column("x0");
  v1::SampleResponse out;
  grpc::ClientContext ctx;
  s = stub_->Sample(&ctx, req, &out);
  EXPECT_EQ(s.error_message(), "where: conditions apply to table jobs only");
}

// GetTableReport measures the epoch's own evaluation rows again: its figures
// equal the stored metrics bit for bit, for the best epoch and any other
// evaluated epoch whose snapshot is kept.
TEST_F(TableJobsTest, ReportEqualsTheEpochsMetricsAndNamesWhatIsWrong) {
  const std::string table = Upload("people.csv", People());
  v1::JobSpec spec = TableSpec(table, 4);
  spec.set_eval_every(2);
  spec.set_checkpoint_every(1);
  spec.set_target("city");
  spec.set_max_dcr_share(1.0);
  const std::string id = MustCreate(spec);
  const v1::Job done = WaitForEnd(id);
  ASSERT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED) << done.error();
  ASSERT_GT(done.best_epoch(), 0);
  EXPECT_EQ(done.spec().target(), "city");
  EXPECT_EQ(done.spec().max_dcr_share(), 1.0);
  ASSERT_TRUE(done.best_metrics().has_utility());
  ASSERT_TRUE(done.best_metrics().has_utility_real());

  auto report = [&](std::optional<int64_t> epoch, v1::TableReport* out) {
    v1::GetTableReportRequest req;
    req.set_job_id(id);
    if (epoch) req.set_epoch(*epoch);
    grpc::ClientContext ctx;
    return stub_->GetTableReport(&ctx, req, out);
  };
  v1::TableReport best;
  grpc::Status s = report(std::nullopt, &best);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(best.epoch(), done.best_epoch());
  EXPECT_EQ(best.select_by(), "quality");
  EXPECT_EQ(best.metrics().SerializeAsString(), done.best_metrics().SerializeAsString())
      << best.metrics().DebugString() << " vs " << done.best_metrics().DebugString();
  ASSERT_EQ(best.columns_size(), 4);
  EXPECT_EQ(best.columns(0).name(), "grade");
  EXPECT_EQ(best.pairs_size(), 6);
  EXPECT_FALSE(best.privacy().verdict().empty());
  EXPECT_EQ(best.utility().target(), "city");
  EXPECT_EQ(best.utility().task(), "classification");
  EXPECT_EQ(best.utility().synthetic(), done.best_metrics().utility());
  EXPECT_EQ(best.max_dcr_share(), 1.0);
  // Epochs 1, 2 and 4 were evaluated, and the history says so.
  ASSERT_EQ(best.history_size(), 3);
  EXPECT_EQ(best.history(0).epoch(), 1);
  EXPECT_EQ(best.history(2).epoch(), 4);
  // Another evaluated epoch matches its own event.
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(Watch(id, 0, &events).ok());
  int checked = 0;
  for (const auto& e : events) {
    if (!e.has_epoch() || e.epoch().epoch() != 2) continue;
    v1::TableReport two;
    ASSERT_TRUE(report(2, &two).ok());
    EXPECT_EQ(two.metrics().SerializeAsString(), e.epoch().metrics().SerializeAsString());
    ++checked;
  }
  EXPECT_EQ(checked, 1) << "epoch 2's event";
  // What is wrong, named.
  v1::TableReport out;
  s = report(3, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "epoch: 3 was not evaluated (evaluated: epoch 1, multiples of eval_every 2, and the last)");
  s = report(9, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const std::string points = MustCreate(SmallSpec(1));
  WaitForEnd(points);
  v1::GetTableReportRequest req;
  req.set_job_id(points);
  grpc::ClientContext ctx;
  s = stub_->GetTableReport(&ctx, req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "job " + points + " is not a table job; reports cover table jobs");
  // A target the table does not have.
  spec = TableSpec(table);
  spec.set_target("salary");
  v1::Job job;
  s = Create(spec, &job);
  EXPECT_EQ(s.error_message(), "target: the table has no column 'salary' (columns: grade, score, city, member)");
  spec = TableSpec(table);
  spec.set_select_by("utility");
  s = Create(spec, &job);
  EXPECT_EQ(s.error_message(), "select_by: utility needs a target column (target)");
}

}  // namespace
}  // namespace gantry::testing
