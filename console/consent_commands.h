// The consent commands of `rdiag` (DESIGN.md "Requests, grants, approval"):
// request, session, extend, join and close. Consent lives on the customer's
// server: these commands only ask the agent, wait for what customer IT
// decides there, and show it.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"
#include "console/cli.h"
#include "console/context.h"

namespace rdiag::console {

// Runs request, session, extend, join or close against the site inv.name.
// Returns the exit code; everything the user needs has been printed.
int run_consent(const Invocation& inv, Context& ctx);

// Pure pieces of the output, for tests.

// A wire time (YYYY-MM-DDTHH:MM:SS.mmmZ, UTC) in the local time zone, as
// "2026-11-28 14:05 CST"; anything else comes back terminal-safe.
std::string local_time_text(std::string_view ts);
// "m:ss" for the waiting line (minutes go past 59).
std::string elapsed_text(std::chrono::seconds elapsed);
// A request or grant state in words; unknown words come back terminal-safe.
std::string state_text(std::string_view state);
// What `rdiag session` prints for a session.status result.
std::string render_status(const nlohmann::json& status);
// What request, extend and join print once approved (a session.wait result).
std::string render_approved(const nlohmann::json& result, Command command);
// The state a session.state notification gives the request `id`, or "" when
// it is about something else.
std::string notified_state(const nlohmann::json& notification, std::string_view id);

}  // namespace rdiag::console
