// JobManager::TableReport: a table job's evaluated epoch measured again,
// in full. The rows are the ones that epoch's evaluation drew (the same
// snapshot, DeriveSeed(seed, kEval, epoch), eval_points rows), measured by
// the same TableEvaluator against the same split, so every figure equals
// the epoch's stored metrics.
#include <algorithm>
#include <cmath>
#include <functional>

#include "core/random.h"
#include "core/table_eval.h"
#include "core/table_sample.h"
#include "server/jobs/convert.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/table_convert.h"
#include "server/jobs/table_jobs.h"

namespace gantry {
namespace {

constexpr int64_t kMaxHistory = 2000;  // evaluated epochs in a report
constexpr int kEventPage = 1000;

void SetOptional(double v, const std::function<void(double)>& set) {
  if (!std::isnan(v)) set(v);
}

void TableReportToProto(const gantry::TableReport& r, v1::TableReport* out) {
  MetricsToProto(r.metrics, out->mutable_metrics());
  out->set_real_rows(r.real_rows);
  out->set_synthetic_rows(r.synthetic_rows);
  for (const ColumnReport& c : r.columns) {
    v1::ColumnReport* p = out->add_columns();
    p->set_name(c.name);
    p->set_type(ColumnTypeToProto(c.type));
    p->set_shape_metric(c.shape_metric);
    SetOptional(c.shape, [p](double v) { p->set_shape(v); });
    p->set_missing_real(c.missing_real);
    p->set_missing_synthetic(c.missing_synthetic);
    p->set_coverage(std::isnan(c.coverage) ? 0 : c.coverage);
    p->set_adherence(std::isnan(c.adherence) ? 0 : c.adherence);
    for (double e : c.edges) p->add_edges(e);
    for (const std::string& l : c.labels) p->add_labels(l);
    for (double v : c.real) p->add_real(v);
    for (double v : c.synthetic) p->add_synthetic(v);
  }
  for (const PairReport& pr : r.pairs) {
    v1::PairReport* p = out->add_pairs();
    p->set_a(pr.a);
    p->set_b(pr.b);
    p->set_metric(pr.metric);
    SetOptional(pr.score, [p](double v) { p->set_score(v); });
    SetOptional(pr.real, [p](double v) { p->set_real(v); });
    SetOptional(pr.synthetic, [p](double v) { p->set_synthetic(v); });
  }
  if (r.privacy) {
    v1::PrivacyReport* p = out->mutable_privacy();
    p->set_dcr_share(r.privacy->dcr_share);
    p->set_exact_copies(r.privacy->exact_copies);
    p->set_dcr_p5(r.privacy->dcr_p5);
    p->set_holdout_dcr_p5(r.privacy->holdout_dcr_p5);
    p->set_holdout_exact_copies(r.privacy->holdout_exact_copies);
    p->set_reference_rows(r.privacy->reference_rows);
    p->set_synthetic_rows(r.privacy->synthetic_rows);
    p->set_verdict(r.privacy->verdict);
  }
  if (r.utility) {
    v1::UtilityReport* u = out->mutable_utility();
    u->set_target(r.utility->target);
    u->set_task(r.utility->task);
    u->set_score_name(r.utility->score_name);
    u->set_synthetic(std::isnan(r.utility->synthetic) ? 0 : r.utility->synthetic);
    u->set_real(std::isnan(r.utility->real) ? 0 : r.utility->real);
    u->set_synthetic_accuracy(std::isnan(r.utility->synthetic_accuracy) ? 0 : r.utility->synthetic_accuracy);
    u->set_real_accuracy(std::isnan(r.utility->real_accuracy) ? 0 : r.utility->real_accuracy);
    u->set_train_rows(r.utility->train_rows);
    u->set_test_rows(r.utility->test_rows);
  }
}

bool Evaluated(const JobSpec& spec, const JobRow& job, int64_t e) {
  if (e == 1 || e % spec.eval_every == 0 || e == spec.epochs) return true;
  // A job that stopped early stopped after an evaluation.
  const bool stopped_early = job.latest && !job.latest->stop_reason().empty();
  return stopped_early && e == job.epochs_done;
}

}  // namespace

StatusOr<v1::TableReport> JobManager::TableReport(const std::string& id,
                                                  std::optional<int64_t> asked_epoch) const {
  auto job = Get(id);
  if (!job.ok()) return job.status();
  const int64_t best_epoch = job->epochs_done > 0 && job->latest ? job->latest->best_epoch() : 0;
  if (job->spec.dataset().kind() != v1::DATASET_KIND_TABLE) {
    return Status::FailedPrecondition("job " + id + " is not a table job; reports cover table jobs");
  }
  int64_t epoch = 0;
  if (asked_epoch) {
    epoch = *asked_epoch;
    if (epoch < 1 || epoch > job->epochs_done) {
      return Status::InvalidArgument("epoch: " + std::to_string(epoch) + " is out of range 1.." +
                                     std::to_string(job->epochs_done) + " (the epochs trained)");
    }
  } else {
    epoch = best_epoch;
    if (epoch == 0) {
      return Status::FailedPrecondition("job " + id + " has no evaluated epoch yet (" + JobStateName(job->state) +
                                        ")");
    }
  }
  auto spec = SpecFromProto(job->spec);
  if (!spec.ok()) return Status::DataLoss("job " + id + "'s stored spec: " + spec.status().message());
  if (!Evaluated(*spec, *job, epoch)) {
    return Status::InvalidArgument("epoch: " + std::to_string(epoch) + " was not evaluated (evaluated: epoch 1, " +
                                   "multiples of eval_every " + std::to_string(spec->eval_every) + ", and the last)");
  }
  if (Status loaded = LoadJobTable(*store_, &*spec); !loaded.ok()) {
    return Status::FailedPrecondition("the report needs job " + id + "'s table: " + loaded.message());
  }
  auto snapshot = Snapshot(id, epoch);
  if (!snapshot.ok()) return snapshot.status();
  auto evaluator = TableEvaluator::Create(spec->dataset.table.data, *spec);
  if (!evaluator.ok()) return evaluator.status();
  TableRowStream rows(*snapshot, DeriveSeed(spec->seed, RandomStream::kEval, static_cast<uint64_t>(epoch)), {}, 0,
                      spec->eval_points);
  std::vector<std::vector<double>> generated;
  GANTRY_RETURN_IF_ERROR(rows.Next(spec->eval_points, &generated));

  v1::TableReport out;
  out.set_job_id(id);
  out.set_job_name(job->name);
  out.set_epoch(epoch);
  out.set_best_epoch(best_epoch);
  out.set_select_by(MetricName(spec->select_by));
  if (spec->max_dcr_share > 0) out.set_max_dcr_share(spec->max_dcr_share);
  TableReportToProto((*evaluator)->Report(generated), &out);

  // Scores over epochs, from the stored events, thinned evenly to at most
  // kMaxHistory: every stride-th evaluation (at most kMaxHistory - 2 of
  // them), the best epoch and the last evaluated one.
  const int64_t evaluated = job->epochs_done / spec->eval_every + 2;
  const int64_t stride = std::max<int64_t>(1, (evaluated + kMaxHistory - 3) / (kMaxHistory - 2));
  int64_t index = 0, from = 1;
  v1::EpochScores last;
  bool last_added = true;
  while (true) {
    auto events = store_->ReadEvents(id, from, kEventPage);
    if (!events.ok()) return events.status();
    for (const v1::JobEvent& ev : *events) {
      from = ev.seq() + 1;
      if (!ev.has_epoch() || !ev.epoch().has_metrics() || ev.epoch().epoch() > job->epochs_done) continue;
      v1::EpochScores s;
      s.set_epoch(ev.epoch().epoch());
      *s.mutable_metrics() = ev.epoch().metrics();
      const bool keep = index++ % stride == 0 || s.epoch() == best_epoch;
      last_added = keep && out.history_size() < kMaxHistory - 1;
      if (last_added) *out.add_history() = s;
      last = std::move(s);
    }
    if (static_cast<int>(events->size()) < kEventPage) break;
  }
  if (!last_added && last.epoch() > 0) *out.add_history() = last;
  return out;
}

}  // namespace gantry
