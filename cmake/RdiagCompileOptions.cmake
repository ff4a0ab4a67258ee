# Project-wide compile options, applied per target through rdiag_target_defaults().
include_guard(GLOBAL)

# No -Wnull-dereference: at -O3 (Release, bench/) GCC 12 reports false
# positives inside nlohmann::json's inlined accessors.
set(RDIAG_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
    -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
# GCC 12 at -O3 reports false -Wrestrict inside std::string's operator+
# (GCC bug 105329) wherever strings are concatenated; -O2 builds keep the check.
if(CMAKE_BUILD_TYPE STREQUAL "Release" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND RDIAG_WARNINGS -Wno-restrict)
endif()

# Hardening on by default (as mosh does): these cost little and a customer's
# production server is exactly where they matter.
set(RDIAG_HARDENING -fstack-protector-strong -fstack-clash-protection -fcf-protection)

function(rdiag_target_defaults target)
  target_compile_options(${target} PRIVATE ${RDIAG_WARNINGS} ${RDIAG_HARDENING})
  if(RDIAG_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(NOT RDIAG_SANITIZE AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    target_compile_definitions(${target} PRIVATE _FORTIFY_SOURCE=2)
  endif()
  target_link_options(${target} PRIVATE -Wl,-z,relro,-z,now)
endfunction()

if(RDIAG_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
