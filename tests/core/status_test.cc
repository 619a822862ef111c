// Status and StatusOr (core/status.h): codes and messages survive, and a
// StatusOr built from an OK Status (a caller's bug: no value) is an INTERNAL
// error naming the mistake, never an empty success.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace gantry {
namespace {

TEST(StatusTest, CodeMessageAndText) {
  const Status ok = Status::Ok();
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.ToString(), "OK");
  const Status bad = Status::InvalidArgument("epochs: 0 is out of range 1..100000");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.ToString(), "INVALID_ARGUMENT: epochs: 0 is out of range 1..100000");
}

TEST(StatusOrTest, HoldsAValue) {
  StatusOr<std::vector<int>> v = std::vector<int>{1, 2, 3};
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->size(), 3u);
  EXPECT_EQ((*v)[2], 3);
  const std::vector<int> moved = std::move(v).value();
  EXPECT_EQ(moved, (std::vector<int>{1, 2, 3}));
}

TEST(StatusOrTest, HoldsAnError) {
  StatusOr<std::string> s = Status::NotFound("job j-1");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.status().message(), "job j-1");
}

TEST(StatusOrTest, AnOkStatusWithoutAValueIsAnInternalError) {
  StatusOr<std::unique_ptr<int>> s = Status::Ok();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInternal);
  EXPECT_NE(s.status().message().find("OK Status without a value"), std::string::npos)
      << s.status().ToString();
  // The same through a function's return, where the mistake usually is.
  auto lookup = [](bool found) -> StatusOr<int> {
    if (found) return 7;
    return Status();
  };
  EXPECT_EQ(lookup(true).value(), 7);
  EXPECT_EQ(lookup(false).status().code(), StatusCode::kInternal);
}

Status FirstFailure(const std::vector<Status>& steps, int* ran) {
  for (const Status& step : steps) {
    ++*ran;
    GANTRY_RETURN_IF_ERROR(step);
  }
  return Status::Ok();
}

TEST(StatusTest, ReturnIfErrorStopsAtTheFirstFailure) {
  int ran = 0;
  const Status s = FirstFailure({Status::Ok(), Status::Unavailable("store"), Status::Internal("never")}, &ran);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(ran, 2);
  ran = 0;
  EXPECT_TRUE(FirstFailure({Status::Ok(), Status::Ok()}, &ran).ok());
  EXPECT_EQ(ran, 2);
}

}  // namespace
}  // namespace gantry
