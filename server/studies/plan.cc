#include "server/studies/plan.h"

#include <algorithm>
#include <cmath>
#include <queue>
#include <set>

#include "core/spec_params.h"

namespace gantry::studies {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A small counter-based generator: the same (seed, a, b) give the same
// numbers on every machine and standard library.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t a, uint64_t b) : state_(Mix(Mix(Mix(seed) ^ a) ^ b)) {}
  double Uniform() {  // [0, 1)
    state_ = Mix(state_);
    return static_cast<double>(state_ >> 11) * 0x1.0p-53;
  }
  size_t Index(size_t n) { return std::min(n - 1, static_cast<size_t>(Uniform() * n)); }

 private:
  uint64_t state_;
};

constexpr uint64_t kSaltSample = 1, kSaltExploit = 2, kSaltOrder = 3;
// Finite spaces up to this size are drawn without replacement.
constexpr int64_t kMaxShuffledGrid = 10000;

int64_t IntLo(const Param& p) { return static_cast<int64_t>(std::ceil(p.min)); }
int64_t IntHi(const Param& p) { return static_cast<int64_t>(std::floor(p.max)); }

std::string Draw(const Param& p, Rng& rng) {
  if (p.kind == "choice") return p.values[rng.Index(p.values.size())];
  if (p.kind == "int") {
    const int64_t lo = IntLo(p), hi = IntHi(p);
    return std::to_string(lo + static_cast<int64_t>(rng.Index(static_cast<size_t>(hi - lo + 1))));
  }
  const double u = rng.Uniform();
  if (p.kind == "log_uniform") {
    return FormatReal(std::exp(std::log(p.min) + u * (std::log(p.max) - std::log(p.min))));
  }
  return FormatReal(p.min + u * (p.max - p.min));
}

// PBT's explore: resample, or perturb by x0.8 / x1.2 (a choice moves to a
// neighbouring value), within the space.
Params Explore(const std::vector<Param>& space, const Params& from, double resample, Rng& rng) {
  Params out = from;
  for (const Param& p : space) {
    if (rng.Uniform() < resample) {
      out[p.name] = Draw(p, rng);
      continue;
    }
    const bool up = rng.Uniform() >= 0.5;
    const std::string& now = from.at(p.name);
    if (p.kind == "choice") {
      auto it = std::find(p.values.begin(), p.values.end(), now);
      size_t i = it == p.values.end() ? 0 : static_cast<size_t>(it - p.values.begin());
      if (up && i + 1 < p.values.size()) ++i;
      if (!up && i > 0) --i;
      out[p.name] = p.values[i];
      continue;
    }
    const double v = std::strtod(now.c_str(), nullptr) * (up ? 1.2 : 0.8);
    const double clipped = std::clamp(v, p.min, p.max);
    if (p.kind == "int") {
      out[p.name] = std::to_string(std::clamp(static_cast<int64_t>(std::llround(clipped)), IntLo(p), IntHi(p)));
    } else {
      out[p.name] = FormatReal(clipped);
    }
  }
  return out;
}

std::vector<std::string> GridValues(const Param& p) {
  if (p.kind == "choice") return p.values;
  std::vector<std::string> out;
  if (p.kind == "int") {
    for (int64_t v = IntLo(p); v <= IntHi(p) && out.size() < 1'000'000; ++v) out.push_back(std::to_string(v));
  }
  return out;
}

// A trial's parameters (random, ASHA, Hyperband, PBT's first generation):
// drawn from the space; a finite space (every parameter a choice or an
// int, at most kMaxShuffledGrid combinations) is drawn without
// replacement, in a seeded order, until every combination was tried. A
// grid's trials (in_order) are its combinations in the grid's order, the
// first parameter slowest. Combinations are numbered, not built: only the
// trials asked for become parameters.
class TrialDraws {
 public:
  TrialDraws(const std::vector<Param>& space, uint64_t seed, bool in_order = false)
      : space_(space), seed_(seed) {
    const int64_t size = GridSize(space);
    if (size <= 0 || (!in_order && size > kMaxShuffledGrid)) return;
    size_ = size;
    for (const Param& p : space) values_.push_back(GridValues(p));
    if (in_order) return;
    order_.resize(static_cast<size_t>(size));
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
    Rng rng(seed, 0, kSaltOrder);
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.Index(i)]);
  }
  Params operator()(int64_t trial) const {
    if (size_ == 0) return SampleParams(space_, seed_, trial, kSaltSample);
    const int64_t k = (trial - 1) % size_;
    int64_t index = order_.empty() ? k : order_[static_cast<size_t>(k)];
    Params out;
    for (size_t i = space_.size(); i-- > 0;) {  // the last parameter is the fastest digit
      const std::vector<std::string>& v = values_[i];
      out[space_[i].name] = v[static_cast<size_t>(index % static_cast<int64_t>(v.size()))];
      index /= static_cast<int64_t>(v.size());
    }
    return out;
  }
  // The combinations drawn without replacement (0: drawn at random).
  int64_t finite_size() const { return size_; }

 private:
  const std::vector<Param>& space_;
  const uint64_t seed_;
  int64_t size_ = 0;
  std::vector<std::vector<std::string>> values_;  // each parameter's GridValues
  std::vector<int64_t> order_;                    // the shuffled combination numbers
};

// The plan under construction, with the budget of epochs.
struct Builder {
  const Config& c;
  const Results& results;
  Plan plan;
  int64_t epochs_issued = 0;

  bool Fits(int64_t epochs) const { return c.max_epochs <= 0 || epochs_issued + epochs <= c.max_epochs; }
  void Issue(const Segment& s) {
    plan.segments.push_back(s);
    epochs_issued += s.end - s.start;
  }
  const Result* Find(int64_t trial, int64_t index) const {
    auto it = results.find({trial, index});
    return it == results.end() ? nullptr : &it->second;
  }
  // Whether every issued segment has a result.
  bool AllKnown() const {
    for (const Segment& s : plan.segments) {
      if (!Find(s.trial, s.index)) return false;
    }
    return true;
  }
};

// (trial, index, result) sorted best first, ties by trial number.
struct Entry {
  int64_t trial = 0, index = 0;
  Result result;
};
void Rank(const Config& c, std::vector<Entry>* entries) {
  std::stable_sort(entries->begin(), entries->end(), [&](const Entry& a, const Entry& b) {
    if (Better(c, a.result, b.result)) return true;
    if (Better(c, b.result, a.result)) return false;
    return a.trial < b.trial;
  });
}

Plan Flat(const Config& c, const Results& results) {
  Builder b{c, results, {}};
  const bool grid = c.algorithm == "grid";
  const TrialDraws draw(c.space, c.seed, /*in_order=*/grid);
  const int64_t n = grid ? std::min(c.max_trials, draw.finite_size()) : c.max_trials;
  for (int64_t t = 1; t <= n && b.Fits(c.epochs); ++t) {
    Segment s;
    s.trial = t;
    s.end = c.epochs;
    s.params = draw(t);
    b.Issue(s);
  }
  b.plan.done = b.AllKnown();
  return std::move(b.plan);
}

Plan Asha(const Config& c, const Results& results) {
  Builder b{c, results, {}};
  const std::vector<int64_t> rungs = Rungs(c);
  const size_t top = rungs.size() - 1;
  std::vector<std::vector<Entry>> rung(rungs.size());
  std::vector<std::set<int64_t>> promoted(rungs.size());
  std::map<int64_t, Params> params;
  int64_t next_trial = 1;
  const TrialDraws draw(c.space, c.seed);
  auto rung_of = [&](int64_t end) {
    return static_cast<size_t>(std::lower_bound(rungs.begin(), rungs.end(), end) - rungs.begin());
  };
  auto next_job = [&]() -> std::optional<Segment> {
    // Once no new trial can start, each rung promotes at least its best, so
    // that a finite study trains some trial to the last epoch.
    const bool last_trials = next_trial > c.max_trials || !b.Fits(rungs[0]);
    for (size_t k = top; k-- > 0;) {
      std::vector<Entry> ranked = rung[k];
      Rank(c, &ranked);
      size_t m = ranked.size() / static_cast<size_t>(c.eta);
      if (last_trials && !ranked.empty()) m = std::max<size_t>(m, 1);
      for (size_t i = 0; i < m; ++i) {
        const Entry& e = ranked[i];
        if (!e.result.ok) break;
        if (promoted[k].count(e.trial) || !b.Fits(rungs[k + 1] - rungs[k])) continue;
        promoted[k].insert(e.trial);
        Segment s;
        s.trial = e.trial;
        s.index = e.index + 1;
        s.start = rungs[k];
        s.end = rungs[k + 1];
        s.params = params[e.trial];
        s.parent_trial = e.trial;
        s.parent_index = e.index;
        return s;
      }
    }
    if (next_trial <= c.max_trials && b.Fits(rungs[0])) {
      Segment s;
      s.trial = next_trial++;
      s.end = rungs[0];
      s.params = params[s.trial] = draw(s.trial);
      return s;
    }
    return std::nullopt;
  };
  // The virtual clock: (finish tick, issue order, segment's position).
  using Running = std::tuple<int64_t, int64_t, size_t>;
  std::priority_queue<Running, std::vector<Running>, std::greater<>> running;
  int64_t now = 0, issued = 0, free = c.concurrency;
  while (true) {
    while (free > 0) {
      auto job = next_job();
      if (!job) break;
      b.Issue(*job);
      running.emplace(now + job->end - job->start, issued++, b.plan.segments.size() - 1);
      --free;
    }
    if (running.empty()) {
      b.plan.done = true;
      break;
    }
    const auto [finish, order, at] = running.top();
    const Segment& s = b.plan.segments[at];
    const Result* r = b.Find(s.trial, s.index);
    if (r == nullptr) break;  // the next result in virtual time is not in yet
    running.pop();
    now = finish;
    ++free;
    rung[rung_of(s.end)].push_back({s.trial, s.index, *r});
  }
  return std::move(b.plan);
}

Plan Hyperband(const Config& c, const Results& results) {
  Builder b{c, results, {}};
  const std::vector<int64_t> rungs = Rungs(c);
  const int64_t s_max = static_cast<int64_t>(rungs.size()) - 1;
  int64_t next_trial = 1;
  const TrialDraws draw(c.space, c.seed);
  for (int64_t s = s_max; s >= 0 && next_trial <= c.max_trials; --s) {
    const double n_s = std::ceil(static_cast<double>(s_max + 1) / static_cast<double>(s + 1) *
                                 std::pow(static_cast<double>(c.eta), static_cast<double>(s)));
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(n_s), c.max_trials - next_trial + 1);
    std::vector<Entry> survivors;
    for (int64_t i = 0; i < n; ++i) survivors.push_back({next_trial++, 0, {}});
    std::map<int64_t, Params> params;
    for (const Entry& e : survivors) params[e.trial] = draw(e.trial);
    for (int64_t i = 0; i <= s; ++i) {
      const size_t k = static_cast<size_t>(s_max - s + i);
      for (Entry& e : survivors) {
        Segment seg;
        seg.trial = e.trial;
        seg.index = i;
        seg.start = i == 0 ? 0 : rungs[k - 1];
        seg.end = rungs[k];
        seg.params = params[e.trial];
        if (i > 0) {
          seg.parent_trial = e.trial;
          seg.parent_index = i - 1;
        }
        if (!b.Fits(seg.end - seg.start)) {
          b.plan.done = b.AllKnown();
          return std::move(b.plan);
        }
        b.Issue(seg);
      }
      for (Entry& e : survivors) {
        const Result* r = b.Find(e.trial, i);
        if (r == nullptr) return std::move(b.plan);  // the rung is not decided yet
        e.index = i;
        e.result = *r;
      }
      if (i == s) break;
      Rank(c, &survivors);
      const size_t keep = std::max<size_t>(1, survivors.size() / static_cast<size_t>(c.eta));
      survivors.resize(std::min(keep, survivors.size()));
      while (!survivors.empty() && !survivors.back().result.ok) survivors.pop_back();
      if (survivors.empty()) break;
    }
  }
  b.plan.done = b.AllKnown();
  return std::move(b.plan);
}

Plan Pbt(const Config& c, const Results& results) {
  Builder b{c, results, {}};
  const int64_t p = c.population;
  const int64_t generations = (c.epochs + c.interval - 1) / c.interval;
  std::vector<Params> now(static_cast<size_t>(p + 1));
  std::vector<SegmentKey> parent(static_cast<size_t>(p + 1), {0, 0});
  const TrialDraws draw(c.space, c.seed);
  for (int64_t m = 1; m <= p; ++m) now[static_cast<size_t>(m)] = draw(m);
  for (int64_t g = 0; g < generations; ++g) {
    for (int64_t m = 1; m <= p; ++m) {
      Segment s;
      s.trial = m;
      s.index = g;
      s.start = g * c.interval;
      s.end = std::min(c.epochs, (g + 1) * c.interval);
      s.params = now[static_cast<size_t>(m)];
      std::tie(s.parent_trial, s.parent_index) = parent[static_cast<size_t>(m)];
      if (!b.Fits(s.end - s.start)) {
        b.plan.done = b.AllKnown();
        return std::move(b.plan);
      }
      b.Issue(s);
    }
    std::vector<Entry> ranked;
    for (int64_t m = 1; m <= p; ++m) {
      const Result* r = b.Find(m, g);
      if (r == nullptr) return std::move(b.plan);  // the generation is not over yet
      ranked.push_back({m, g, *r});
    }
    if (g + 1 == generations) break;
    Rank(c, &ranked);
    const size_t cut = std::max<size_t>(1, static_cast<size_t>(std::floor(static_cast<double>(p) * c.truncation)));
    std::vector<int64_t> top;
    for (size_t i = 0; i < cut && i < ranked.size() && ranked[i].result.ok; ++i) top.push_back(ranked[i].trial);
    if (top.empty()) break;  // every member failed
    for (size_t i = 0; i < ranked.size(); ++i) {
      const int64_t m = ranked[i].trial;
      const bool replaced = i >= ranked.size() - cut || !ranked[i].result.ok;
      if (!replaced) {
        parent[static_cast<size_t>(m)] = {m, g};
        continue;
      }
      Rng rng(c.seed, static_cast<uint64_t>(g) * 1000003u + static_cast<uint64_t>(m), kSaltExploit);
      const int64_t from = top[rng.Index(top.size())];
      now[static_cast<size_t>(m)] = Explore(c.space, now[static_cast<size_t>(from)], c.resample, rng);
      parent[static_cast<size_t>(m)] = {from, g};
    }
  }
  b.plan.done = b.AllKnown();
  return std::move(b.plan);
}

}  // namespace

std::vector<const Segment*> Lineage(const Plan& plan, const Segment& s) {
  std::map<SegmentKey, const Segment*> by_key;
  for (const Segment& p : plan.segments) by_key[{p.trial, p.index}] = &p;
  std::vector<const Segment*> chain{&s};
  // At most one step per issued segment: a malformed plan cannot loop.
  while (chain.back()->parent_trial > 0 && chain.size() <= plan.segments.size()) {
    auto parent = by_key.find({chain.back()->parent_trial, chain.back()->parent_index});
    if (parent == by_key.end()) break;
    chain.push_back(parent->second);
  }
  return chain;
}

const Segment* LineageSegment(const Plan& plan, const Segment& s, int64_t epoch) {
  for (const Segment* at : Lineage(plan, s)) {
    if (at->start < epoch && epoch <= at->end) return at;
  }
  return &s;
}

bool Better(const Config& c, const Result& a, const Result& b) {
  if (a.ok != b.ok) return a.ok;
  if (!a.ok) return false;
  return c.maximize ? a.objective > b.objective : a.objective < b.objective;
}

int64_t GridSize(const std::vector<Param>& space) {
  int64_t n = 1;
  for (const Param& p : space) {
    const int64_t k = p.kind == "choice" ? static_cast<int64_t>(p.values.size())
                      : p.kind == "int"  ? std::max<int64_t>(0, IntHi(p) - IntLo(p) + 1)
                                         : 0;
    if (k <= 0) return 0;
    n = k > 1'000'000 / n ? 1'000'000 : std::min<int64_t>(1'000'000, n * k);
  }
  return n;
}

std::vector<int64_t> Rungs(const Config& c) {
  std::vector<int64_t> out;
  for (int64_t r = std::max<int64_t>(1, c.min_epochs); r < c.epochs; r *= c.eta) out.push_back(r);
  out.push_back(c.epochs);
  return out;
}

Params SampleParams(const std::vector<Param>& space, uint64_t seed, int64_t trial, uint64_t salt) {
  Rng rng(seed, static_cast<uint64_t>(trial), salt);
  Params out;
  for (const Param& p : space) out[p.name] = Draw(p, rng);
  return out;
}

Plan MakePlan(const Config& config, const Results& results) {
  if (config.algorithm == "asha") return Asha(config, results);
  if (config.algorithm == "hyperband") return Hyperband(config, results);
  if (config.algorithm == "pbt") return Pbt(config, results);
  return Flat(config, results);
}

}  // namespace gantry::studies
