// cmdbus/message.hpp — what makes a plain struct a command, a query or an event.
//
// A command is a plain struct with a stable wire name; it may declare a result type (void when absent), a partition
// key (ordering per key on routes that have queues) and a validate() member. Queries and events are alike:
//
//   struct OpenAccount {
//     static constexpr std::string_view command_name = "bank.open_account";
//     using result_type = std::int64_t;                  // optional; void when absent
//     std::string owner;
//     std::string_view partition_key() const { return owner; }        // optional
//     std::optional<std::string> validate() const;                     // optional: a message means "rejected"
//   };
//   struct GetBalance {
//     static constexpr std::string_view query_name = "bank.get_balance";
//     using result_type = long;
//   };
//   struct AccountOpened {
//     static constexpr std::string_view event_name = "bank.account_opened";
//   };
//
// Contains: the concepts `command`, `query`, `event`, `message`; `result_t<M>`; `wire_name_v<M>`; and the traits
// that detect the optional members.
#pragma once

#include <concepts>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace cmdbus {

template <class T>
concept command = std::is_class_v<T> && requires {
  { T::command_name } -> std::convertible_to<std::string_view>;
};

template <class T>
concept query = std::is_class_v<T> && requires {
  { T::query_name } -> std::convertible_to<std::string_view>;
  typename T::result_type;
};

template <class T>
concept event = std::is_class_v<T> && requires {
  { T::event_name } -> std::convertible_to<std::string_view>;
};

/// A command or a query: something with exactly one handler.
template <class T>
concept message = command<T> || query<T>;

enum class message_kind : unsigned char { command, query, event };

namespace detail {
template <class T>
struct result_of {
  using type = void;
};
template <class T>
requires requires {
  typename T::result_type;
}
struct result_of<T> {
  using type = typename T::result_type;
};
}  // namespace detail

/// The result a handler of M returns: M::result_type, or void when M declares none.
template <class M>
using result_t = typename detail::result_of<M>::type;

template <class M>
constexpr message_kind kind_v = command<M> ? message_kind::command
                                : query<M> ? message_kind::query
                                           : message_kind::event;

template <class M>
constexpr std::string_view wire_name_v = [] {
  if constexpr (command<M>) {
    return std::string_view{M::command_name};
  } else if constexpr (query<M>) {
    return std::string_view{M::query_name};
  } else {
    return std::string_view{M::event_name};
  }
}();

namespace detail {
/// What a partition key may be: text (std::string, std::string_view, const char*) or an integer.
template <class K>
concept partition_key_type = std::is_convertible_v<K, std::string_view> || std::is_integral_v<std::remove_cvref_t<K>>;
}  // namespace detail

/// M declares `partition_key()`, of any type (make_message_info rejects a type that is no key).
template <class M>
concept declares_partition_key = requires(const M& m) {
  m.partition_key();
};

template <class M>
concept has_partition_key = requires(const M& m) {
  { m.partition_key() } -> detail::partition_key_type;
};

/// validate() may return void (and throw to reject) or std::optional<std::string> (a message rejects).
template <class M>
concept has_validate = requires(const M& m) {
  m.validate();
}
&&(std::is_void_v<decltype(std::declval<const M&>().validate())> ||
   std::is_convertible_v<decltype(std::declval<const M&>().validate()), std::optional<std::string>>);

}  // namespace cmdbus
