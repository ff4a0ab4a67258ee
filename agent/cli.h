#pragma once

namespace rdiag::agent {

// Parses the command line, runs the subcommand, returns the exit code.
int main_entry(int argc, char** argv);

}  // namespace rdiag::agent
