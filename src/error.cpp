#include "cmdbus/error.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

namespace cmdbus {
namespace {

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out{abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free};
  return status == 0 && out ? std::string{out.get()} : std::string{mangled};
}

}  // namespace

std::string_view to_string(error_code code) noexcept {
  switch (code) {
    case error_code::rejected:
      return "rejected";
    case error_code::transient:
      return "transient";
    case error_code::fatal:
      return "fatal";
  }
  return "fatal";
}

error_code classify(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const remote_error& r) {
    return r.code();
  } catch (const rejected_error&) {
    return error_code::rejected;
  } catch (const transient_error&) {
    return error_code::transient;
  } catch (...) {
    return error_code::fatal;
  }
}

error::error(std::exception_ptr e, std::string_view command_name, cmdbus::command_id id, std::uint32_t attempts)
    : exception_(std::move(e)), command_name_(command_name), id_(id), attempts_(attempts) {
  code_ = classify(exception_);
  try {
    std::rethrow_exception(exception_);
  } catch (const remote_error& ex) {
    message_ = ex.what();
    type_name_ = ex.original_type();
  } catch (const std::exception& ex) {
    message_ = ex.what();
    type_name_ = demangle(typeid(ex).name());
  } catch (...) {
    message_ = "an exception that does not derive from std::exception";
    const std::type_info* t = abi::__cxa_current_exception_type();
    type_name_ = t != nullptr ? demangle(t->name()) : "unknown";
  }
}

void error::rethrow() const {
  if (exception_) {
    std::rethrow_exception(exception_);
  }
  throw std::logic_error("cmdbus::error::rethrow() on an empty error");
}

std::string error::describe() const {
  std::string s{to_string(code_)};
  s += ": ";
  s += command_name_;
  if (!id_.is_nil()) {
    s += ' ';
    s += id_.to_string();
  }
  s += ": ";
  s += message_;
  s += " (";
  s += type_name_;
  if (attempts_ > 1) {
    s += ", after ";
    s += std::to_string(attempts_);
    s += " attempts";
  }
  s += ')';
  return s;
}

}  // namespace cmdbus
