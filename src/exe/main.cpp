// The `troupe` executable: everything lives in the library.
#include "cli/cli.hpp"

int main(int argc, char** argv) {
  return troupe::cli::main(argc, argv);
}
