#pragma once

namespace troupe::cli {

/// Runs the `troupe` command line; returns the process exit code:
/// 0 success, 1 the task failed or was rejected, 2 bad usage or config.
int main(int argc, char** argv);

} // namespace troupe::cli
