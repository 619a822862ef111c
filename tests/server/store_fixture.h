// StoreTest: a test fixture parameterised by a Store implementation, with a
// fresh directory per test (the SQLite store's data directory) and the store
// opened in it. Shared by the store conformance suite and the sessions
// tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "server/store/store.h"

namespace gantry {

struct StoreFactory {
  std::string name;
  std::function<std::unique_ptr<Store>(const std::string& dir)> make;
};

inline void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.name; }

class StoreTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  // `prefix` names the temporary directories ("gantry-store", ...).
  explicit StoreTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    namespace fs = std::filesystem;
    dir_ = (fs::temp_directory_path() /
            (prefix_ + "-" + GetParam().name + "-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
    store_ = GetParam().make(dir_);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  const std::string prefix_;
  std::string dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace gantry
