// cmdbus/fwd.hpp — the names of cmdbus's public types and nothing else, for a header that only passes them around.
//
//   #include <cmdbus/fwd.hpp>
//   void register_bank(cmdbus::bus_builder& b);        // the .cpp includes <cmdbus/cmdbus.hpp>
//   void audit(const cmdbus::context& ctx, cmdbus::command_id id);  // by value needs the definition: include id.hpp
//
// Includes nothing. Contains forward declarations of the bus, builder, context, errors, middleware, route-kind and
// worker interfaces, dead letters and status types, and the enums' underlying types.
#pragma once

namespace cmdbus {

// The bus and how it is built (bus.hpp, builder.hpp).
class bus;
class bus_builder;
struct stop_report;

// A command on its way (context.hpp, id.hpp, handle.hpp, consistency.hpp, command_status.hpp, message_info.hpp).
class context;
struct dispatch_options;
struct header;
class command_id;
template <class R>
class handle;
struct consistency_token;
enum class command_status : unsigned char;
struct command_state;
struct message_info;
enum class message_kind : unsigned char;

// Errors (error.hpp).
enum class error_code : unsigned char;
class error;
class rejected_error;
class transient_error;
class queue_full_error;
class stopping_error;
class config_error;
class registration_error;
class remote_error;

// Middleware and units of work (middleware.hpp, transaction_middleware.hpp, unit_of_work.hpp, retry.hpp).
class middleware;
class invocation;
class next_step;
class transaction_middleware;
class unit_of_work;
struct retry_policy;

// Dead letters (dead_letters.hpp).
struct dead_letter;
class dead_letter_store;
class dead_letter_queue;
class route_dead_letters;

// Route kinds and their workers (route_kind.hpp, worker.hpp).
class route_kind;
class route_plan;
class route_table;
class route;
struct route_stats;
struct route_stop;
class worker_host;

}  // namespace cmdbus
