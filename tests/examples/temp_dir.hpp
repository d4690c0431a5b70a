// A temporary directory, removed with the object.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace examples_test {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cmdbus-examples-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace examples_test
