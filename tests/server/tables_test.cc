// The table resource over gRPC against a real server: UploadTable (chunks,
// dedup, limits, bad files), GetTable, ListTables and DeleteTable.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/util/sha256.h"
#include "tests/server/harness.h"

namespace gantry::testing {
namespace {

constexpr char kPeople[] =
    "age,city,score\n"
    "31,Paris,1.5\n"
    "45,Lyon,2.25\n"
    "27,Paris,3.125\n"
    "52,Nice,0.5\n";

class TablesTest : public ServerHarness {
 protected:
  void SetUp() override { Start({}); }

  void Start(TablesOptions tables) {
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.tables = tables;
    auto s = GantryServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    target_ = "127.0.0.1:" + std::to_string(server_->port());
    channel_ = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
    stub_ = v1::Gantry::NewStub(channel_);
  }

  // Uploads `bytes` in chunks of `chunk` bytes (the first message names it).
  grpc::Status Upload(const std::string& name, const std::string& bytes, v1::TableInfo* info,
                      size_t chunk = 7, const std::string& delimiter = "") {
    grpc::ClientContext ctx;
    auto writer = stub_->UploadTable(&ctx, info);
    v1::UploadTableRequest req;
    req.set_name(name);
    req.set_delimiter(delimiter);
    size_t offset = 0;
    do {
      req.set_chunk(bytes.substr(offset, chunk));
      offset += chunk;
      if (!writer->Write(req)) break;
      req.clear_name();
      req.clear_delimiter();
    } while (offset < bytes.size());
    writer->WritesDone();
    return writer->Finish();
  }

  v1::TableInfo MustUpload(const std::string& name, const std::string& bytes) {
    v1::TableInfo info;
    const grpc::Status s = Upload(name, bytes, &info);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return info;
  }

  grpc::Status GetTable(const std::string& id, v1::TableInfo* info) {
    grpc::ClientContext ctx;
    v1::GetTableRequest req;
    req.set_table_id(id);
    return stub_->GetTable(&ctx, req, info);
  }

  grpc::Status ListTables(int page_size, const std::string& token, v1::ListTablesResponse* out) {
    grpc::ClientContext ctx;
    v1::ListTablesRequest req;
    req.set_page_size(page_size);
    req.set_page_token(token);
    return stub_->ListTables(&ctx, req, out);
  }

  grpc::Status DeleteTable(const std::string& id) {
    grpc::ClientContext ctx;
    v1::DeleteTableRequest req;
    req.set_table_id(id);
    v1::DeleteTableResponse resp;
    return stub_->DeleteTable(&ctx, req, &resp);
  }
};

TEST_F(TablesTest, UploadStoresTheFileWithItsSchemaUnderItsSha256) {
  const v1::TableInfo info = MustUpload("people.csv", kPeople);
  EXPECT_EQ(info.id(), Sha256Hex(kPeople));
  EXPECT_EQ(info.name(), "people.csv");
  EXPECT_EQ(info.size_bytes(), static_cast<int64_t>(std::string(kPeople).size()));
  EXPECT_TRUE(info.has_create_time());
  const v1::TableSchema& schema = info.schema();
  EXPECT_EQ(schema.rows(), 4);
  EXPECT_EQ(schema.delimiter(), ",");
  ASSERT_EQ(schema.columns_size(), 3);
  EXPECT_EQ(schema.columns(0).name(), "age");
  EXPECT_EQ(schema.columns(1).name(), "city");
  EXPECT_EQ(schema.columns(1).type(), v1::COLUMN_TYPE_CATEGORICAL);
  EXPECT_EQ(std::vector<std::string>(schema.columns(1).levels().begin(),
                                     schema.columns(1).levels().end()),
            (std::vector<std::string>{"Lyon", "Nice", "Paris"}));
  EXPECT_EQ(schema.columns(2).name(), "score");
  EXPECT_EQ(schema.columns(2).type(), v1::COLUMN_TYPE_CONTINUOUS);
  EXPECT_DOUBLE_EQ(schema.columns(2).min(), 0.5);
  EXPECT_DOUBLE_EQ(schema.columns(2).max(), 3.125);

  v1::TableInfo got;
  ASSERT_TRUE(GetTable(info.id(), &got).ok());
  EXPECT_EQ(got.SerializeAsString(), info.SerializeAsString());
  // Ids are read in any case.
  std::string upper = info.id();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_TRUE(GetTable(upper, &got).ok());
  EXPECT_EQ(got.id(), info.id());
}

TEST_F(TablesTest, TheSameBytesAreOneTable) {
  const v1::TableInfo first = MustUpload("people.csv", kPeople);
  v1::TableInfo second;
  ASSERT_TRUE(Upload("copy.csv", kPeople, &second, /*chunk=*/1000).ok());
  EXPECT_EQ(second.id(), first.id());
  EXPECT_EQ(second.name(), "people.csv");  // the first upload's
  v1::ListTablesResponse list;
  ASSERT_TRUE(ListTables(0, "", &list).ok());
  EXPECT_EQ(list.tables_size(), 1);
}

TEST_F(TablesTest, ListPagesNewestFirstAndDeleteRemoves) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(
        MustUpload("t" + std::to_string(i) + ".csv", std::string(kPeople) + "60,Lyon," +
                                                         std::to_string(i) + ".5\n")
            .id());
  }
  v1::ListTablesResponse page;
  ASSERT_TRUE(ListTables(2, "", &page).ok());
  ASSERT_EQ(page.tables_size(), 2);
  EXPECT_EQ(page.tables(0).id(), ids[2]);
  EXPECT_EQ(page.tables(1).id(), ids[1]);
  ASSERT_FALSE(page.next_page_token().empty());
  v1::ListTablesResponse rest;
  ASSERT_TRUE(ListTables(2, page.next_page_token(), &rest).ok());
  ASSERT_EQ(rest.tables_size(), 1);
  EXPECT_EQ(rest.tables(0).id(), ids[0]);
  EXPECT_TRUE(rest.next_page_token().empty());

  ASSERT_TRUE(DeleteTable(ids[1]).ok());
  v1::TableInfo info;
  EXPECT_EQ(GetTable(ids[1], &info).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(DeleteTable(ids[1]).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(ListTables(0, "", &page).ok());
  ASSERT_EQ(page.tables_size(), 2);
  EXPECT_EQ(page.tables(0).id(), ids[2]);
  EXPECT_EQ(page.tables(1).id(), ids[0]);
}

TEST_F(TablesTest, BadRequestsNameWhatIsWrong) {
  v1::TableInfo info;
  grpc::Status s = GetTable("nope", &info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("table_id: 'nope' is not a table id"), std::string::npos)
      << s.error_message();
  s = GetTable(Sha256Hex("never uploaded"), &info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "table " + Sha256Hex("never uploaded") + " not found");
  v1::ListTablesResponse list;
  s = ListTables(1001, "", &list);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "page_size: 1001 is out of range 0..1000");
  s = ListTables(0, "x1", &list);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "page_token: 'x1' is not a token from a previous ListTables");

  s = Upload("", kPeople, &info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("name: empty"), std::string::npos) << s.error_message();
  s = Upload(std::string(201, 'n'), kPeople, &info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "name: 201 characters is out of range 1..200");
  s = Upload("people.csv", kPeople, &info, 7, ":");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("delimiter: ':' is not a delimiter"), std::string::npos)
      << s.error_message();
  s = Upload("empty.csv", "", &info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "empty.csv: the file is empty");
  {
    // No message at all.
    grpc::ClientContext ctx;
    auto writer = stub_->UploadTable(&ctx, &info);
    writer->WritesDone();
    s = writer->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("sent no message"), std::string::npos) << s.error_message();
  }
  {
    // A later message naming the upload again.
    grpc::ClientContext ctx;
    auto writer = stub_->UploadTable(&ctx, &info);
    v1::UploadTableRequest req;
    req.set_name("a.csv");
    req.set_chunk("x\n");
    writer->Write(req);
    req.set_name("b.csv");
    writer->Write(req);
    writer->WritesDone();
    s = writer->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("first message of an upload only"), std::string::npos)
        << s.error_message();
  }
  // A chunk over 1 MiB.
  s = Upload("big.csv", std::string((1 << 20) + 1, 'x'), &info, (1 << 20) + 1);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "chunk: 1048577 bytes is over the limit of 1 MiB per message");
  // Nothing was stored by any of them.
  ASSERT_TRUE(ListTables(0, "", &list).ok());
  EXPECT_EQ(list.tables_size(), 0);
}

TEST_F(TablesTest, AFileCoreCannotReadIsRefusedWithCoresMessage) {
  v1::TableInfo info;
  // A row with more fields than the header.
  const grpc::Status s = Upload("bad.csv", "a,b\n1,2\n3,4,5\n6,7\n", &info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("bad.csv"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("line 3"), std::string::npos) << s.error_message();
  v1::ListTablesResponse list;
  ASSERT_TRUE(ListTables(0, "", &list).ok());
  EXPECT_EQ(list.tables_size(), 0);
}

class SmallTablesTest : public TablesTest {
 protected:
  void SetUp() override {
    TablesOptions o;
    o.max_table_bytes = 100;
    Start(o);
  }
};

TEST_F(SmallTablesTest, AFileOverTheLimitIsRefusedNamingIt) {
  std::string rows = "x,y\n";
  while (rows.size() <= 100) rows += "1,2\n";
  v1::TableInfo info;
  const grpc::Status s = Upload("big.csv", rows, &info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(s.error_message(),
            "the table is over the server's limit of 100 bytes per file (--max-table-bytes)");
  // At the limit it is taken.
  ASSERT_TRUE(Upload("ok.csv", rows.substr(0, 100), &info).ok());
  EXPECT_EQ(info.size_bytes(), 100);
}

}  // namespace
}  // namespace gantry::testing
