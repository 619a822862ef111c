// The studies' algorithms (server/studies/plan.h), their spec checks
// (study_spec.h) and the hyper-parameters by name (core/spec_params.h),
// without a server: a fake objective plays the trials' metrics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "core/spec_params.h"
#include "server/studies/plan.h"
#include "server/studies/study_spec.h"

namespace gantry::studies {
namespace {

// Lower is better: best at learning_rate 1e-3, and better with more epochs.
double FakeObjective(const Segment& s) {
  const double lr = std::strtod(s.params.at("learning_rate").c_str(), nullptr);
  const double d = std::log10(lr) + 3;
  return d * d + 1.0 / static_cast<double>(s.end);
}

Config Base(const std::string& algorithm) {
  Config c;
  c.algorithm = algorithm;
  c.space = {{"learning_rate", "log_uniform", {}, 1e-5, 1e-1}};
  c.epochs = 27;
  c.max_trials = 27;
  c.concurrency = 3;
  c.seed = 7;
  c.min_epochs = 1;
  c.eta = 3;
  return c;
}

// Runs a study to its end, the segments finishing in an order drawn from
// `arrival_seed` (each tick one of the outstanding ones, at random): the
// final plan and the order results came in.
Plan RunToEnd(const Config& c, uint64_t arrival_seed, Results* results_out = nullptr) {
  Results results;
  std::mt19937_64 rng(arrival_seed);
  for (int step = 0; step < 100000; ++step) {
    Plan plan = MakePlan(c, results);
    if (plan.done) {
      if (results_out) *results_out = results;
      return plan;
    }
    std::vector<const Segment*> outstanding;
    for (const Segment& s : plan.segments) {
      if (!results.count({s.trial, s.index})) outstanding.push_back(&s);
    }
    EXPECT_FALSE(outstanding.empty()) << "a plan that is not done has work outstanding";
    if (outstanding.empty()) return plan;
    const Segment* s = outstanding[rng() % outstanding.size()];
    results[{s->trial, s->index}] = Result{true, FakeObjective(*s)};
  }
  ADD_FAILURE() << "the study never ended";
  return {};
}

int64_t Epochs(const Plan& p) {
  int64_t n = 0;
  for (const Segment& s : p.segments) n += s.end - s.start;
  return n;
}

bool SamePlan(const Plan& a, const Plan& b) {
  if (a.segments.size() != b.segments.size()) return false;
  for (size_t i = 0; i < a.segments.size(); ++i) {
    const Segment &x = a.segments[i], &y = b.segments[i];
    if (x.trial != y.trial || x.index != y.index || x.start != y.start || x.end != y.end ||
        x.params != y.params || x.parent_trial != y.parent_trial || x.parent_index != y.parent_index) {
      return false;
    }
  }
  return true;
}

TEST(StudyPlanTest, GridIssuesEveryCombinationOnceAndEndsWithTheLastResult) {
  Config c = Base("grid");
  c.space = {{"learning_rate", "choice", {"0.01", "0.001"}, 0, 0}, {"batch_size", "int", {}, 16, 18}};
  c.max_trials = GridSize(c.space);
  ASSERT_EQ(c.max_trials, 6);
  Plan first = MakePlan(c, {});
  ASSERT_EQ(first.segments.size(), 6u);
  EXPECT_FALSE(first.done);
  std::set<Params> combos;
  for (const Segment& s : first.segments) {
    EXPECT_EQ(s.start, 0);
    EXPECT_EQ(s.end, c.epochs);
    EXPECT_EQ(s.parent_trial, 0);
    combos.insert(s.params);
  }
  EXPECT_EQ(combos.size(), 6u);
  EXPECT_EQ(first.segments[0].params.at("learning_rate"), "0.01");
  EXPECT_EQ(first.segments[0].params.at("batch_size"), "16");
  Results r;
  for (int t = 1; t <= 5; ++t) r[{t, 0}] = Result{true, 1.0 * t};
  EXPECT_FALSE(MakePlan(c, r).done);
  r[{6, 0}] = Result{};  // a failed trial still ends the grid
  EXPECT_TRUE(MakePlan(c, r).done);
}

TEST(StudyPlanTest, RandomTrialsFollowTheSeedAndStayInTheirRanges) {
  Config c = Base("random");
  c.space.push_back({"dropout", "uniform", {}, 0.1, 0.5});
  c.space.push_back({"n_critic", "int", {}, 1, 3});
  c.space.push_back({"loss", "choice", {"bce", "hinge"}, 0, 0});
  c.max_trials = 40;
  const Plan a = MakePlan(c, {}), b = MakePlan(c, {});
  EXPECT_TRUE(SamePlan(a, b));
  Config other = c;
  other.seed = 8;
  EXPECT_FALSE(SamePlan(a, MakePlan(other, {})));
  std::set<std::string> losses, critics;
  for (const Segment& s : a.segments) {
    const double lr = std::strtod(s.params.at("learning_rate").c_str(), nullptr);
    const double dropout = std::strtod(s.params.at("dropout").c_str(), nullptr);
    EXPECT_GE(lr, 1e-5);
    EXPECT_LE(lr, 1e-1);
    EXPECT_GE(dropout, 0.1);
    EXPECT_LE(dropout, 0.5);
    critics.insert(s.params.at("n_critic"));
    losses.insert(s.params.at("loss"));
  }
  EXPECT_EQ(critics, (std::set<std::string>{"1", "2", "3"}));
  EXPECT_EQ(losses, (std::set<std::string>{"bce", "hinge"}));
  Config budget = c;
  budget.max_epochs = 27 * 5 + 10;  // room for five whole trials
  EXPECT_EQ(MakePlan(budget, {}).segments.size(), 5u);
}

TEST(StudyPlanTest, AFiniteSpaceIsDrawnWithoutReplacement) {
  Config c = Base("random");
  c.space = {{"learning_rate", "choice", {"0.01", "0.001", "0.0001"}, 0, 0}, {"n_critic", "int", {}, 1, 2}};
  c.max_trials = 12;
  const Plan plan = MakePlan(c, {});
  ASSERT_EQ(plan.segments.size(), 12u);
  std::set<Params> first, second;
  for (size_t i = 0; i < 6; ++i) first.insert(plan.segments[i].params);
  for (size_t i = 6; i < 12; ++i) second.insert(plan.segments[i].params);
  EXPECT_EQ(first.size(), 6u) << "every combination before any twice";
  EXPECT_EQ(first, second);
  Config other = c;
  other.seed = 99;
  const Plan reordered = MakePlan(other, {});
  std::vector<Params> a, b;
  for (size_t i = 0; i < 6; ++i) a.push_back(plan.segments[i].params), b.push_back(reordered.segments[i].params);
  EXPECT_NE(a, b) << "the order follows the seed";
}

TEST(StudyPlanTest, AshaTakesTheSameDecisionsWhateverOrderResultsArriveIn) {
  const Config c = Base("asha");
  EXPECT_EQ(Rungs(c), (std::vector<int64_t>{1, 3, 9, 27}));
  const Plan reference = RunToEnd(c, 1);
  for (uint64_t arrival : {2u, 3u, 4u, 5u}) {
    EXPECT_TRUE(SamePlan(reference, RunToEnd(c, arrival))) << "arrival order " << arrival;
  }
  // Successive halving: each rung keeps a fraction of the one below (about
  // a third; asynchronous promotions, taken on partial rungs, may keep a
  // few more than synchronous halving would).
  std::map<int64_t, int64_t> at_rung;
  for (const Segment& s : reference.segments) ++at_rung[s.end];
  EXPECT_EQ(at_rung[1], 27);
  EXPECT_LE(at_rung[3], 27 / 2);
  EXPECT_LT(at_rung[9], at_rung[3]);
  EXPECT_LT(at_rung[27], at_rung[9]);
  EXPECT_GE(at_rung[27], 1);
  // A promotion continues its own trial from where it stopped.
  for (const Segment& s : reference.segments) {
    if (s.index == 0) continue;
    EXPECT_EQ(s.parent_trial, s.trial);
    EXPECT_EQ(s.parent_index, s.index - 1);
  }
  // Far fewer epochs than 27 full trials, and the winner is near the optimum.
  EXPECT_LT(Epochs(reference), 27 * 27 / 3);
  Results results;
  RunToEnd(c, 1, &results);
  double best = 1e9;
  for (const auto& [key, r] : results) best = std::min(best, r.objective);
  EXPECT_LT(best, 0.2);
}

TEST(StudyPlanTest, AFiniteAshaStudyTrainsItsBestTrialToTheLastEpoch) {
  for (int64_t trials : {1, 2, 5, 12}) {
    Config c = Base("asha");
    c.max_trials = trials;
    const Plan plan = RunToEnd(c, 1);
    int64_t full = 0;
    for (const Segment& s : plan.segments) full += s.end == c.epochs;
    EXPECT_GE(full, 1) << trials << " trials";
    EXPECT_LE(full, trials / 3 + 2) << trials << " trials";
  }
}

TEST(StudyPlanTest, AshaNeverRunsMoreThanItsConcurrencyAndRespectsTheEpochBudget) {
  Config c = Base("asha");
  c.max_epochs = 100;
  Results results;
  std::mt19937_64 rng(3);
  for (int step = 0; step < 10000; ++step) {
    Plan plan = MakePlan(c, results);
    int64_t outstanding = 0;
    for (const Segment& s : plan.segments) outstanding += !results.count({s.trial, s.index});
    EXPECT_LE(outstanding, c.concurrency);
    EXPECT_LE(Epochs(plan), c.max_epochs);
    if (plan.done) break;
    for (const Segment& s : plan.segments) {
      if (!results.count({s.trial, s.index})) {
        results[{s.trial, s.index}] = Result{true, FakeObjective(s)};
        break;
      }
    }
  }
  EXPECT_TRUE(MakePlan(c, results).done);
}

TEST(StudyPlanTest, HyperbandRunsItsBracketsAsSuccessiveHalving) {
  Config c = Base("hyperband");
  c.max_trials = 1000;
  const Plan plan = RunToEnd(c, 9);
  EXPECT_TRUE(SamePlan(plan, RunToEnd(c, 10)));
  // Brackets s = 3, 2, 1, 0: 27 + 12 + 6 + 4 trials; the first halves 27 -> 9 -> 3 -> 1.
  std::map<int64_t, int64_t> trials_starting_at;
  std::map<std::pair<int64_t, int64_t>, int64_t> first_bracket;  // (index, end) -> count
  for (const Segment& s : plan.segments) {
    if (s.index == 0) ++trials_starting_at[s.end];
    if (s.trial <= 27) ++first_bracket[{s.index, s.end}];
  }
  EXPECT_EQ(trials_starting_at[1], 27);
  EXPECT_EQ(trials_starting_at[3], 12);
  EXPECT_EQ(trials_starting_at[9], 6);
  EXPECT_EQ(trials_starting_at[27], 4);
  EXPECT_EQ(first_bracket[std::make_pair(int64_t{1}, int64_t{3})], 9);
  EXPECT_EQ(first_bracket[std::make_pair(int64_t{2}, int64_t{9})], 3);
  EXPECT_EQ(first_bracket[std::make_pair(int64_t{3}, int64_t{27})], 1);
}

TEST(StudyPlanTest, PbtCopiesTheBestAndPerturbsWithinTheSpace) {
  Config c = Base("pbt");
  c.space = {{"learning_rate", "log_uniform", {}, 1e-4, 1e-2}};
  c.population = 4;
  c.max_trials = 4;
  c.interval = 5;
  c.epochs = 20;
  c.resample = 0.25;
  Results results;
  const Plan plan = RunToEnd(c, 4, &results);
  EXPECT_TRUE(SamePlan(plan, RunToEnd(c, 11)));
  ASSERT_EQ(plan.segments.size(), 16u);  // 4 members x 4 generations
  for (int64_t g = 1; g < 4; ++g) {
    // The generation before: its best and its worst member.
    int64_t best = 0, worst = 0;
    double best_v = 1e9, worst_v = -1e9;
    for (const Segment& s : plan.segments) {
      if (s.index != g - 1) continue;
      const double v = results.at({s.trial, s.index}).objective;
      if (v < best_v) best_v = v, best = s.trial;
      if (v > worst_v) worst_v = v, worst = s.trial;
    }
    for (const Segment& s : plan.segments) {
      if (s.index != g) continue;
      EXPECT_EQ(s.start, g * 5);
      EXPECT_EQ(s.parent_index, g - 1);
      if (s.trial == worst) {
        EXPECT_EQ(s.parent_trial, best) << "generation " << g << ": the worst copies the best";
      } else {
        EXPECT_EQ(s.parent_trial, s.trial);
      }
      const double lr = std::strtod(s.params.at("learning_rate").c_str(), nullptr);
      EXPECT_GE(lr, 1e-4);
      EXPECT_LE(lr, 1e-2);
    }
  }
}

// An ASHA study of ring8 (81 epochs) over learning_rate, log-uniform 1e-4..1e-2.
v1::StudySpec AshaSpec() {
  v1::StudySpec spec;
  spec.mutable_base()->mutable_dataset()->set_kind(v1::DATASET_KIND_RING8);
  spec.mutable_base()->set_epochs(81);
  v1::SearchParam* p = spec.add_space();
  p->set_name("learning_rate");
  p->set_kind("log_uniform");
  p->set_min(1e-4);
  p->set_max(1e-2);
  spec.set_algorithm("asha");
  return spec;
}

TEST(StudySpecTest, DefaultsAreFilledAndBadSpecsNamed) {
  v1::StudySpec spec = AshaSpec();
  ASSERT_TRUE(NormalizeStudySpec(&spec).ok());
  EXPECT_EQ(spec.objective(), "sliced_w1");
  EXPECT_EQ(spec.direction(), "min");
  EXPECT_EQ(spec.max_trials(), 16);
  EXPECT_EQ(spec.concurrency(), 2);
  EXPECT_EQ(spec.min_epochs(), 3);
  EXPECT_EQ(spec.reduction_factor(), 3);
  EXPECT_EQ(spec.plan_version(), kPlanVersion);

  auto message = [](v1::StudySpec s) { return NormalizeStudySpec(&s).message(); };
  v1::StudySpec grid = spec;
  grid.set_algorithm("grid");
  grid.set_min_epochs(0);
  grid.set_reduction_factor(0);
  grid.set_max_trials(0);
  EXPECT_NE(message(grid).find("a grid needs choice or int parameters"), std::string::npos) << message(grid);
  v1::StudySpec pbt = spec;
  pbt.set_algorithm("pbt");
  pbt.set_min_epochs(0);
  pbt.set_reduction_factor(0);
  pbt.set_max_trials(0);
  pbt.mutable_space(0)->set_name("batch_size");
  pbt.mutable_space(0)->set_kind("int");
  EXPECT_NE(message(pbt).find("only learning_rate"), std::string::npos) << message(pbt);
  v1::StudySpec table_metric = spec;
  table_metric.set_objective("quality");
  EXPECT_NE(message(table_metric).find("quality is for table jobs"), std::string::npos);
  v1::StudySpec unknown = spec;
  unknown.mutable_space(0)->set_name("colour");
  EXPECT_NE(message(unknown).find("'colour' is not a parameter"), std::string::npos) << message(unknown);
  v1::StudySpec bad_choice = spec;
  bad_choice.mutable_space(0)->set_kind("choice");
  bad_choice.mutable_space(0)->set_min(0);
  bad_choice.mutable_space(0)->set_max(0);
  bad_choice.mutable_space(0)->add_values("fast");
  EXPECT_NE(message(bad_choice).find("learning_rate: 'fast' is not a finite number"), std::string::npos)
      << message(bad_choice);
  v1::StudySpec future = spec;
  future.set_plan_version(kPlanVersion + 1);
  EXPECT_NE(message(future).find("plan_version: 3 is out of range 1..2"), std::string::npos) << message(future);
  v1::StudySpec negative_seed = spec;
  negative_seed.mutable_space(0)->set_name("seed");
  negative_seed.mutable_space(0)->set_kind("choice");
  negative_seed.mutable_space(0)->set_min(0);
  negative_seed.mutable_space(0)->set_max(0);
  negative_seed.mutable_space(0)->add_values("-1");
  EXPECT_NE(message(negative_seed).find("seed: '-1' is not a whole number >= 0"), std::string::npos)
      << message(negative_seed);
  v1::StudySpec seed_range = spec;
  seed_range.mutable_space(0)->set_name("seed");
  seed_range.mutable_space(0)->set_kind("int");
  seed_range.mutable_space(0)->set_min(-1);
  seed_range.mutable_space(0)->set_max(3);
  EXPECT_NE(message(seed_range).find("space[0] (seed): seed: '-1' is not a whole number >= 0"), std::string::npos)
      << message(seed_range);
  seed_range.mutable_space(0)->set_min(0);
  EXPECT_TRUE(NormalizeStudySpec(&seed_range).ok()) << NormalizeStudySpec(&seed_range).message();
}

// Which studies decide on (best_so_far) and report (track_best) a trial's
// best so far; the results themselves are the e2e `studies` test's.
TEST(StudySpecTest, TheBestSoFarRulesApplyFromPlanVersionTwoExceptPbtDecisions) {
  v1::StudySpec spec = AshaSpec();
  ASSERT_TRUE(NormalizeStudySpec(&spec).ok());
  EXPECT_TRUE(ConfigOf(spec).best_so_far);
  v1::StudySpec stored_before_versions = spec;
  stored_before_versions.clear_plan_version();
  EXPECT_FALSE(ConfigOf(stored_before_versions).best_so_far);
  v1::StudySpec version_one = spec;
  version_one.set_plan_version(1);
  EXPECT_FALSE(ConfigOf(version_one).best_so_far);
  EXPECT_FALSE(ConfigOf(version_one).track_best);
  v1::StudySpec pbt = spec;
  pbt.set_algorithm("pbt");
  EXPECT_FALSE(ConfigOf(pbt).best_so_far) << "exploits compare members as they are";
  EXPECT_TRUE(ConfigOf(pbt).track_best) << "the study's best is still the best evaluated epoch";
  v1::StudySpec against_the_metric = spec;
  against_the_metric.set_direction("max");  // sliced_w1's own is min: the jobs' best epochs do not follow it
  EXPECT_FALSE(ConfigOf(against_the_metric).best_so_far);
  EXPECT_FALSE(ConfigOf(against_the_metric).track_best);
  v1::StudySpec grid = spec;
  grid.set_algorithm("grid");
  EXPECT_TRUE(ConfigOf(grid).best_so_far);
}

TEST(StudyPlanTest, ALineageSegmentIsTheOneThatTrainedTheEpoch) {
  Plan plan;
  auto add = [&](int64_t trial, int64_t index, int64_t start, int64_t end, int64_t parent_trial) {
    Segment s;
    s.trial = trial;
    s.index = index;
    s.start = start;
    s.end = end;
    s.parent_trial = parent_trial;
    s.parent_index = index - 1;
    plan.segments.push_back(s);
  };
  add(1, 0, 0, 3, 0);
  add(2, 0, 0, 3, 0);
  add(2, 1, 3, 9, 2);
  add(1, 1, 3, 9, 2);  // a PBT-like copy of trial 2's first segment
  add(1, 2, 9, 27, 1);
  const Segment& last = plan.segments.back();
  EXPECT_EQ(LineageSegment(plan, last, 20), &plan.segments[4]);
  EXPECT_EQ(LineageSegment(plan, last, 9), &plan.segments[3]);
  EXPECT_EQ(LineageSegment(plan, last, 4), &plan.segments[3]);
  EXPECT_EQ(LineageSegment(plan, last, 3), &plan.segments[1]) << "trial 1's segment 1 started from trial 2's";
  EXPECT_EQ(LineageSegment(plan, last, 1), &plan.segments[1]);
  EXPECT_EQ(LineageSegment(plan, last, 28), &last) << "no segment trained it";
}

TEST(StudySpecTest, ASegmentIsTheBaseWithItsParametersAndItsStart) {
  v1::StudySpec spec;
  spec.mutable_base()->mutable_dataset()->set_kind(v1::DATASET_KIND_RING8);
  spec.mutable_base()->set_epochs(27);
  spec.mutable_base()->set_seed(5);
  spec.set_objective("mmd");
  spec.set_plan_version(2);
  Segment s;
  s.trial = 2;
  s.index = 1;
  s.start = 3;
  s.end = 9;
  s.parent_trial = 2;
  s.params = {{"learning_rate", "0.003"}, {"generator_hidden", "8,8"}, {"loss", "hinge"}};
  auto job = SegmentSpec(spec, s, "j-parent");
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ(job->epochs(), 9);
  EXPECT_EQ(job->seed(), 5u);
  EXPECT_DOUBLE_EQ(job->learning_rate(), 0.003);
  EXPECT_EQ(job->loss(), "hinge");
  ASSERT_EQ(job->generator_hidden().sizes_size(), 2);
  EXPECT_EQ(job->generator_hidden().sizes(0), 8);
  EXPECT_EQ(job->init_from().job_id(), "j-parent");
  EXPECT_EQ(job->init_from().epoch(), 3);
  EXPECT_TRUE(job->keep_checkpoint());
  EXPECT_EQ(job->select_by(), spec.objective()) << "the jobs' best epochs follow the objective";
  v1::StudySpec version_one = spec;
  version_one.clear_plan_version();
  EXPECT_FALSE(SegmentSpec(version_one, s, "j-parent")->has_select_by()) << "an older study's jobs keep the base's";

  s.params = {{"seed", "12"}};
  auto seeded = SegmentSpec(spec, s, "j-parent");
  ASSERT_TRUE(seeded.ok()) << seeded.status().message();
  EXPECT_EQ(seeded->seed(), 12u);
}

TEST(SpecParamsTest, ParametersReadBackAndSchedulesApplyInOrder) {
  JobSpec spec;
  ASSERT_TRUE(SetParam("learning_rate", "0.0005", &spec).ok());
  EXPECT_EQ(GetParam("learning_rate", spec), "0.0005");
  ASSERT_TRUE(SetParam("discriminator_hidden", "64,32", &spec).ok());
  EXPECT_EQ(GetParam("discriminator_hidden", spec), "64,32");
  ASSERT_TRUE(SetParam("generator_hidden", "", &spec).ok());
  EXPECT_TRUE(spec.generator_hidden.empty());
  EXPECT_EQ(SetParam("batch_size", "3.5", &spec).message(), "batch_size: '3.5' is not a whole number");
  EXPECT_EQ(SetParam("spectral_norm", "yes", &spec).message(), "spectral_norm: 'yes' is not true or false");
  EXPECT_EQ(FormatReal(0.1 + 0.2), "0.30000000000000004");

  JobSpec scheduled;
  scheduled.epochs = 30;
  scheduled.schedule = {{10, {{"learning_rate", "0.002"}}}, {20, {{"learning_rate", "0.004"}, {"dropout", "0.1"}}}};
  ASSERT_TRUE(Validate(scheduled).ok()) << Validate(scheduled).message();
  EXPECT_DOUBLE_EQ(SpecAfter(scheduled, 9)->learning_rate, 0.001);
  EXPECT_DOUBLE_EQ(SpecAfter(scheduled, 10)->learning_rate, 0.002);
  EXPECT_DOUBLE_EQ(SpecAfter(scheduled, 25)->learning_rate, 0.004);
  EXPECT_DOUBLE_EQ(SpecAfter(scheduled, 25)->dropout, 0.1);

  JobSpec shape = scheduled;
  shape.schedule = {{10, {{"latent_dim", "4"}}}};
  EXPECT_NE(Validate(shape).message().find("'latent_dim' cannot change during training"), std::string::npos);
  JobSpec late = scheduled;
  late.schedule = {{30, {{"learning_rate", "0.1"}}}};
  EXPECT_NE(Validate(late).message().find("schedule[0].after_epoch: 30 is out of range 1..29"), std::string::npos)
      << Validate(late).message();
  JobSpec range = scheduled;
  range.schedule = {{5, {{"learning_rate", "20"}}}};
  EXPECT_NE(Validate(range).message().find("schedule, after epoch 5: learning_rate"), std::string::npos)
      << Validate(range).message();
  JobSpec start = scheduled;
  start.init_job_id = "j-1";
  start.init_epoch = 30;
  EXPECT_NE(Validate(start).message().find("init_from.epoch: 30 is out of range 1..29"), std::string::npos);
}

}  // namespace
}  // namespace gantry::studies
