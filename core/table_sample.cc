#include "core/table_sample.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/random.h"
#include "core/runtime.h"
#include "core/table_codec.h"

namespace gantry {
namespace {

std::string Range(const ColumnSchema& c) {
  return FormatCell(c, c.min) + ".." + FormatCell(c, c.max);
}

bool Discrete(const ColumnSchema& c) {
  return c.type == ColumnType::kCategorical || c.type == ColumnType::kBoolean;
}

}  // namespace

StatusOr<std::vector<RowCondition>> ParseConditions(
    const TableSchema& schema, const std::vector<std::pair<std::string, std::string>>& where) {
  std::vector<RowCondition> out;
  for (const auto& [name, value] : where) {
    const int c = schema.Find(name);
    if (c < 0) {
      std::string names;
      for (size_t i = 0; i < schema.columns.size() && i < 20; ++i) {
        names += (i ? ", " : "") + schema.columns[i].name;
      }
      return Status::InvalidArgument("where: no column '" + name + "' (columns: " + names + ")");
    }
    for (const RowCondition& o : out) {
      if (o.column == c) return Status::InvalidArgument("where: two conditions on column '" + name + "'");
    }
    const ColumnSchema& col = schema.columns[static_cast<size_t>(c)];
    RowCondition rc;
    rc.column = c;
    if (value.empty() || value == "NA") {
      if (col.missing == 0) {
        return Status::InvalidArgument("where: " + name + " is never missing in the table");
      }
      rc.missing = true;
      out.push_back(rc);
      continue;
    }
    // A discrete column's value is a level, even one holding "..".
    const size_t dots = Discrete(col) && ParseCell(col, value).ok() ? std::string::npos : value.find("..");
    if (dots != std::string::npos) {
      if (Discrete(col)) {
        return Status::InvalidArgument("where: " + name + " is " + ColumnTypeName(col.type) +
                                       "; a range (LO..HI) needs a numeric or datetime column");
      }
      auto lo = ParseCell(col, value.substr(0, dots));
      if (!lo.ok()) return Status::InvalidArgument("where: " + lo.status().message());
      auto hi = ParseCell(col, value.substr(dots + 2));
      if (!hi.ok()) return Status::InvalidArgument("where: " + hi.status().message());
      if (*lo > *hi) return Status::InvalidArgument("where: " + name + "=" + value + " is an empty range");
      if (*hi < col.min || *lo > col.max) {
        return Status::InvalidArgument("where: " + name + "=" + value +
                                       " lies outside the column's range " + Range(col) +
                                       "; no generated row can meet it");
      }
      rc.lo = *lo;
      rc.hi = *hi;
    } else {
      auto v = ParseCell(col, value);
      if (!v.ok()) return Status::InvalidArgument("where: " + v.status().message());
      if (!Discrete(col) && (*v < col.min || *v > col.max)) {
        return Status::InvalidArgument("where: " + name + "=" + value +
                                       " lies outside the column's range " + Range(col) +
                                       "; no generated row can meet it");
      }
      rc.lo = rc.hi = *v;
    }
    out.push_back(rc);
  }
  return out;
}

TableRowStream::TableRowStream(std::shared_ptr<const GeneratorSnapshot> snapshot, uint64_t seed,
                               std::vector<RowCondition> where, int64_t offset, int64_t total)
    : snapshot_(std::move(snapshot)), seed_(seed), where_(std::move(where)) {
  const TableSchema& schema = snapshot_->table()->schema();
  for (size_t i = 0; i < where_.size() && steer_ < 0; ++i) {
    if (Discrete(schema.columns[static_cast<size_t>(where_[i].column)])) steer_ = static_cast<int>(i);
  }
  if (where_.empty()) {
    block_ = offset / kSampleBlock;
    skip_ = offset % kSampleBlock;
    budget_ = kMaxCandidates + offset + total;  // never binding: every candidate is kept
  } else {
    skip_ = offset;
    budget_ = std::min(kMaxCandidates, kRejectionFactor * (offset + total) + 16 * kSampleBlock);
  }
}

void TableRowStream::NextBlock() {
  const TableCodec& codec = *snapshot_->table();
  const TableSchema& schema = codec.schema();
  at::Generator gen = MakeCpuGenerator(DeriveSeed(seed_, RandomStream::kSample, static_cast<uint64_t>(block_)));
  ++block_;
  const int64_t n = kSampleBlock;
  const int64_t latent = snapshot_->latent_dim() - codec.cond_width();
  if (!work_.defined()) {
    work_ = torch::empty({n, snapshot_->WorkWidth()});
    out_ = torch::empty({n, snapshot_->data_dim()});
  }
  // The input: the noise, then the conditional vector, in the last columns.
  const int64_t in_at = work_.size(1) - snapshot_->latent_dim();
  work_.narrow(1, in_at, latent).copy_(torch::randn({n, latent}, gen));
  at::Tensor cond = work_.narrow(1, in_at + latent, codec.cond_width());
  cond.zero_();
  const auto nd = static_cast<int64_t>(codec.discrete().size());
  if (steer_ >= 0) {
    const RowCondition& w = where_[static_cast<size_t>(steer_)];
    const ColumnCode& code = codec.codes()[static_cast<size_t>(w.column)];
    const int64_t cat = w.missing ? code.categories - 1 : static_cast<int64_t>(w.lo);
    cond.select(1, code.cond_at + cat).fill_(1);
  } else if (nd > 0) {
    const at::Tensor col = torch::randint(0, nd, {n}, gen, torch::kLong);
    const at::Tensor u = torch::rand({n}, gen, torch::kDouble);
    const int64_t* cp = col.data_ptr<int64_t>();
    const double* up = u.data_ptr<double>();
    float* cd = cond.data_ptr<float>();
    const int64_t stride = work_.size(1);
    for (int64_t i = 0; i < n; ++i) {
      const ColumnCode& code = codec.codes()[static_cast<size_t>(codec.discrete()[static_cast<size_t>(cp[i])])];
      double acc = 0;
      int64_t k = 0;
      for (; k + 1 < code.categories; ++k) {
        acc += code.freq[static_cast<size_t>(k)];
        if (acc > up[i]) break;
      }
      cd[i * stride + code.cond_at + k] = 1;
    }
  }
  snapshot_->ForwardInPlace(work_, out_);
  const at::Tensor& raw = out_;
  std::vector<std::vector<double>> values = codec.Decode(raw, gen);
  candidates_ += n;
  pending_.assign(schema.columns.size(), {});
  pending_at_ = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool ok = true;
    for (const RowCondition& w : where_) {
      const double v = values[static_cast<size_t>(w.column)][static_cast<size_t>(i)];
      ok = w.missing ? std::isnan(v) : (!std::isnan(v) && v >= w.lo && v <= w.hi);
      if (!ok) break;
    }
    if (!ok) continue;
    for (size_t c = 0; c < values.size(); ++c) pending_[c].push_back(values[c][static_cast<size_t>(i)]);
  }
}

Status TableRowStream::Next(int64_t n, std::vector<std::vector<double>>* columns) {
  UseSingleThreadedMath();
  const size_t ncols = snapshot_->table()->schema().columns.size();
  columns->resize(ncols);
  int64_t done = 0;
  while (done < n) {
    const size_t avail = pending_.empty() ? 0 : pending_[0].size() - pending_at_;
    if (avail == 0) {
      if (candidates_ >= budget_) {
        return Status::FailedPrecondition(
            "where: only " + std::to_string(accepted_) + " of " + std::to_string(accepted_ - done + n) +
            " rows met the conditions among " + std::to_string(candidates_) +
            " generated rows; relax the conditions or ask for fewer rows");
      }
      NextBlock();
      continue;
    }
    if (skip_ > 0) {
      const auto s = static_cast<size_t>(std::min<int64_t>(skip_, static_cast<int64_t>(avail)));
      pending_at_ += s;
      skip_ -= static_cast<int64_t>(s);
      continue;
    }
    const auto take = static_cast<size_t>(std::min<int64_t>(n - done, static_cast<int64_t>(avail)));
    for (size_t c = 0; c < ncols; ++c) {
      (*columns)[c].insert((*columns)[c].end(), pending_[c].begin() + static_cast<int64_t>(pending_at_),
                           pending_[c].begin() + static_cast<int64_t>(pending_at_ + take));
    }
    pending_at_ += take;
    done += static_cast<int64_t>(take);
    accepted_ += static_cast<int64_t>(take);
  }
  // Between calls a stream keeps only its pending rows, not the network's
  // buffers: a slow SampleStream client holds kilobytes, not megabytes.
  work_ = at::Tensor();
  out_ = at::Tensor();
  return Status::Ok();
}

std::vector<std::string> FormatColumn(const ColumnSchema& column, const std::vector<double>& values) {
  std::vector<std::string> out;
  out.reserve(values.size());
  for (double v : values) out.push_back(FormatCell(column, v));
  return out;
}

}  // namespace gantry
