// The one spelling of enum values (server/api/enum_names.h) and the
// conditional GETs of the HTTP router (server/api/http_router.h), without a
// server.
#include "server/api/enum_names.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gantry/v1/gantry.pb.h"
#include "server/api/http_router.h"

namespace gantry {
namespace {

TEST(EnumNames, ShortNamesDropTheSharedPrefix) {
  EXPECT_EQ(ShortEnumName(*v1::DatasetKind_descriptor()->FindValueByName("DATASET_KIND_TWO_MOONS")),
            "two_moons");
  EXPECT_EQ(ShortEnumName(*v1::JobState_descriptor()->FindValueByName("JOB_STATE_RUNNING")), "running");
  EXPECT_EQ(ShortEnumName(*v1::ColumnType_descriptor()->FindValueByName("COLUMN_TYPE_DATETIME")),
            "datetime");
}

TEST(EnumNames, ParsesEverySpellingAndListsTheValidOnes) {
  const auto& kind = *v1::DatasetKind_descriptor();
  for (const char* text : {"two_moons", "TWO_MOONS", "Two_Moons", "DATASET_KIND_TWO_MOONS",
                           "dataset_kind_two_moons"}) {
    auto value = ParseEnumName(kind, text, "kind");
    ASSERT_TRUE(value.ok()) << text << ": " << value.status().message();
    EXPECT_EQ((*value)->number(), v1::DATASET_KIND_TWO_MOONS) << text;
  }
  // The unspecified value only by its canonical name (it means "default").
  EXPECT_TRUE(ParseEnumName(kind, "DATASET_KIND_UNSPECIFIED", "kind").ok());
  auto bad = ParseEnumName(kind, "unspecified", "kind");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "kind: 'unspecified' is not one of sine, circle, ring8, grid25, two_moons, spiral, "
            "swiss_roll, user, table");
}

StatusOr<v1::CreateJobRequest> Parse(const std::string& json) {
  auto canonical = CanonicalEnumsInJson(json, *v1::CreateJobRequest::descriptor());
  if (!canonical.ok()) return canonical.status();
  v1::CreateJobRequest out;
  const auto st = google::protobuf::util::JsonStringToMessage(*canonical, &out);
  if (!st.ok()) return Status::InvalidArgument(std::string(st.message()));
  return out;
}

TEST(EnumNames, RewritesEnumFieldsAtAnyDepthAndNothingElse) {
  auto req = Parse(R"({"name": "two_moons", "labels": {"kind": "sine"},
      "spec": {"epochs": "3", "seed": "18446744073709551615",
               "dataset": {"kind": "two_moons", "size": 64}}})");
  ASSERT_TRUE(req.ok()) << req.status().message();
  EXPECT_EQ(req->name(), "two_moons");
  EXPECT_EQ(req->labels().at("kind"), "sine");
  EXPECT_EQ(req->spec().dataset().kind(), v1::DATASET_KIND_TWO_MOONS);
  EXPECT_EQ(req->spec().seed(), 18446744073709551615ull);  // numbers copied as written
  // snake_case field names too; arrays of messages with enums inside.
  auto table = Parse(R"({"spec": {"dataset": {"kind": "table", "table": {"table_id": "t-1",
      "schema": {"columns": [{"name": "a", "type": "categorical"}, {"name": "b", "type": "DATETIME"}]}}}}})");
  ASSERT_TRUE(table.ok()) << table.status().message();
  const auto& columns = table->spec().dataset().table().schema().columns();
  ASSERT_EQ(columns.size(), 2);
  EXPECT_EQ(columns[0].type(), v1::COLUMN_TYPE_CATEGORICAL);
  EXPECT_EQ(columns[1].type(), v1::COLUMN_TYPE_DATETIME);
}

TEST(EnumNames, LeavesQuotedNumbersToTheParser) {
  auto out = CanonicalEnumsInJson(R"({"spec": {"dataset": {"kind": "5"}}})",
                                  *v1::CreateJobRequest::descriptor());
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, R"({"spec": {"dataset": {"kind": "5"}}})");
}

TEST(EnumNames, NamesTheFieldOfABadValue) {
  auto bad = Parse(R"({"spec": {"dataset": {"kind": "moons"}}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("spec.dataset.kind: 'moons' is not one of sine, ", 0), 0u)
      << bad.status().message();
}

TEST(EnumNames, MalformedJsonIsLeftToTheParser) {
  const std::vector<std::string> inputs = {R"({"spec": {"dataset": {"kind": "sine")",
                                           R"({"spec" "x"})", std::string(200, '['),
                                           R"({"a": tru)", "",
                                           // a bad value in JSON that does not scan: the
                                           // parser's syntax error, not ours
                                           R"({"spec": {"dataset": {"kind": "bogus")"};
  for (const std::string& json : inputs) {
    auto out = CanonicalEnumsInJson(json, *v1::CreateJobRequest::descriptor());
    ASSERT_TRUE(out.ok()) << json;
    EXPECT_EQ(*out, json);
  }
}

TEST(Revalidate, TagsBodiesAndAnswers304ToAMatchingIfNoneMatch) {
  HttpRequest req;
  HttpResponse res;
  res.set_content("{\"jobs\": []}", "application/json");
  Revalidate(req, &res);
  EXPECT_EQ(res.status, 200);
  std::string tag;
  for (const auto& [name, value] : res.headers) {
    if (name == "ETag") tag = value;
  }
  ASSERT_EQ(tag, EntityTag(res));
  // SHA-256 of the type, a NUL and the body (Python: hashlib.sha256(
  // b'application/json\0{"jobs": []}').hexdigest()[:32]): every build and
  // process gives the same tag.
  EXPECT_EQ(tag, "\"b0c8a803d0c7e03d33dd32a29fb8c9ce\"");
  EXPECT_TRUE(MatchesIfNoneMatch("\"x\", W/" + tag, tag));
  EXPECT_TRUE(MatchesIfNoneMatch("*", tag));
  EXPECT_FALSE(MatchesIfNoneMatch("\"x\"", tag));
  EXPECT_FALSE(MatchesIfNoneMatch("", tag));

  HttpRequest again;
  again.headers.emplace_back("if-none-match", tag);
  HttpResponse same;
  same.set_content("{\"jobs\": []}", "application/json");
  Revalidate(again, &same);
  EXPECT_EQ(same.status, 304);
  EXPECT_TRUE(same.body.empty());

  HttpResponse other;  // another body under the old tag: served whole
  other.set_content("{\"jobs\": [1]}", "application/json");
  Revalidate(again, &other);
  EXPECT_EQ(other.status, 200);
  EXPECT_NE(EntityTag(other), tag);
}

}  // namespace
}  // namespace gantry
