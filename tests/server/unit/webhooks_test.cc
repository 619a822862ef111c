// Webhooks without a server: a new webhook's checks and defaults, the
// signature (against Python's hmac module's answer for the same input), the
// retry backoff, and a POST to a port nobody listens on.
#include "server/webhooks/webhooks.h"

#include <gtest/gtest.h>

#include "server/webhooks/dispatcher.h"

namespace gantry {
namespace {

v1::Webhook Request(const std::string& url) {
  v1::Webhook w;
  w.set_url(url);
  return w;
}

TEST(Webhooks, ANewWebhookGetsAnIdASecretAndEveryEventByDefault) {
  auto row = NewWebhook(Request("https://hooks.example.com/gantry?x=1"), "alice", 42, false);
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(row->id.rfind("wh-", 0), 0u);
  EXPECT_EQ(row->id.size(), 19u);
  EXPECT_EQ(row->secret.rfind("whsec_", 0), 0u);
  EXPECT_EQ(row->secret.size(), 6u + 48u);
  EXPECT_EQ(row->principal, "alice");
  EXPECT_EQ(row->create_ns, 42);
  EXPECT_EQ(row->events, (1u << v1::WEBHOOK_EVENT_JOB_ENDED) | (1u << v1::WEBHOOK_EVENT_NEW_BEST) |
                             (1u << v1::WEBHOOK_EVENT_ALARM));
  auto other = NewWebhook(Request("HTTP://hooks.example.com:8080/"), "alice", 42, false);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->id, row->id);
  EXPECT_NE(other->secret, row->secret);

  const v1::Webhook shown = WebhookToProto(*row, /*with_secret=*/false);
  EXPECT_EQ(shown.secret(), "");
  EXPECT_EQ(shown.events_size(), 3);
  EXPECT_EQ(WebhookToProto(*row, true).secret(), row->secret);
}

TEST(Webhooks, BadRequestsAreRefusedNamingTheField) {
  const std::vector<std::pair<std::string, std::string>> urls = {
      {"", "webhook.url is required"},
      {"file:///etc/passwd", "must start with http:// or https://"},
      {"https://", "names no host"},
      {"http://user:pw@host/", "names no host (or holds credentials)"},
      {"http://host/\n", "holds a space or a control character"},
      {"http://h/" + std::string(kMaxWebhookUrlLength, 'a'), "characters; at most 2000"},
  };
  for (const auto& [url, message] : urls) {
    auto row = NewWebhook(Request(url), "a", 1, false);
    ASSERT_EQ(row.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(row.status().message().find(message), std::string::npos) << row.status().ToString();
  }
  v1::Webhook w = Request("http://h/");
  w.add_events(v1::WEBHOOK_EVENT_ALARM);
  w.add_events(v1::WEBHOOK_EVENT_ALARM);
  EXPECT_NE(NewWebhook(w, "a", 1, false).status().message().find("WEBHOOK_EVENT_ALARM is named twice"),
            std::string::npos);
  w = Request("http://h/");
  w.set_label_selector("a=1,b");
  EXPECT_NE(NewWebhook(w, "a", 1, false).status().message().find("webhook.label_selector:"), std::string::npos);
  w = Request("http://h/");
  w.set_secret("has a space in it!");
  EXPECT_NE(NewWebhook(w, "a", 1, false).status().message().find("printable ASCII without spaces"),
            std::string::npos);
  w = Request("http://h/");
  w.set_job_id("j-1; DROP");
  EXPECT_NE(NewWebhook(w, "a", 1, false).status().message().find("is not a job id"), std::string::npos);
  w = Request("http://h/");
  w.set_principal("someone-else");
  EXPECT_NE(NewWebhook(w, "a", 1, false).status().message().find("set by the server"), std::string::npos);
}

TEST(Webhooks, PrivateHostsAreRefusedUnlessAllowed) {
  for (const char* url : {"http://127.0.0.1/", "http://127.9.9.9:80/", "http://10.0.0.1/",
                          "http://172.16.5.5/", "http://172.31.255.255/", "http://192.168.1.1/",
                          "http://169.254.169.254/latest/meta-data", "http://100.64.0.1/",
                          "http://0.0.0.0/", "http://224.0.0.1/", "http://[::1]/", "http://[::]/",
                          "http://[fe80::1]/", "http://[fd00::1]:8080/", "http://[::ffff:127.0.0.1]/",
                          "http://localhost:8080/", "http://LOCALHOST/", "http://a.localhost/",
                          "http://localhost./", "http://127.1/", "http://0x7f.1/", "http://2130706433/",
                          "http://0177.0.0.1/", "http://[64:ff9b::a00:5]/", "http://[2002:a00:1::]/",
                          "http://[::10.0.0.1]/", "http://[fec0::1]/", "http://198.18.0.1/"}) {
    auto row = NewWebhook(Request(url), "a", 1, /*allow_private=*/false);
    ASSERT_EQ(row.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(row.status().message().find("is a loopback, private or link-local address"),
              std::string::npos)
        << row.status().ToString();
    EXPECT_TRUE(NewWebhook(Request(url), "a", 1, /*allow_private=*/true).ok()) << url;
  }
  for (const char* url : {"http://8.8.8.8/", "http://172.32.0.1/", "http://100.128.0.1/",
                          "http://[2001:db8::1]/", "https://hooks.example.com/", "http://192.169.0.1/",
                          "http://[64:ff9b::808:808]/", "http://[2002:808:808::]/"}) {
    EXPECT_TRUE(NewWebhook(Request(url), "a", 1, false).ok()) << url;
  }
}

TEST(Webhooks, TheSignatureIsHmacSha256OfTimeDotBody) {
  // Python: hmac.new(b"whsec_test", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
  EXPECT_EQ(WebhookSignature("whsec_test", 1700000000, R"({"a":1})"),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
  EXPECT_NE(WebhookSignature("whsec_test", 1700000001, R"({"a":1})"),
            WebhookSignature("whsec_test", 1700000000, R"({"a":1})"));
}

TEST(Webhooks, RetriesDoubleUpToTheLongestWait) {
  DispatcherOptions o;
  o.first_retry = std::chrono::milliseconds(1000);
  o.max_retry = std::chrono::milliseconds(300'000);
  EXPECT_EQ(RetryDelay(1, o).count(), 1000);
  EXPECT_EQ(RetryDelay(2, o).count(), 2000);
  EXPECT_EQ(RetryDelay(9, o).count(), 256'000);
  EXPECT_EQ(RetryDelay(10, o).count(), 300'000);
  EXPECT_EQ(RetryDelay(1000, o).count(), 300'000);
}

TEST(Webhooks, APostNobodyAnswersSaysWhy) {
  // Port 9 (discard) on loopback: nothing listens in a test machine.
  const PostResult r = PostJson("http://127.0.0.1:9/hook", "{}", {"Idempotency-Key: k"},
                                std::chrono::milliseconds(2000), "gantryd-test",
                                /*allow_private=*/true, nullptr);
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(r.error.find("private"), std::string::npos) << r.error;
  // A name resolving to loopback is refused where it connects.
  const PostResult guarded = PostJson("http://localhost:9/hook", "{}", {}, std::chrono::milliseconds(2000),
                                      "gantryd-test", /*allow_private=*/false, nullptr);
  EXPECT_EQ(guarded.status, 0);
  EXPECT_NE(guarded.error.find("a loopback, private or link-local address"), std::string::npos)
      << guarded.error;
  const PostResult bad = PostJson("gopher://127.0.0.1:9/", "{}", {}, std::chrono::milliseconds(2000),
                                  "gantryd-test", true, nullptr);
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(bad.error.empty());
}

}  // namespace
}  // namespace gantry
