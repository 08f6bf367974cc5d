// The calculator: tools::evaluate on the input as an expression, and the
// calculator tool's body (what the executor runs) on it as its argument.
// A value must be finite, and its text (format_number) must evaluate back
// to it within the 15 digits it keeps.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/json.hpp"
#include "support.hpp"
#include "tools/calculator.hpp"

using namespace troupe;

namespace {

void check_value(double v) {
  if (!std::isfinite(v))
    fuzz::broken("evaluate returned a value that is not finite");
  // Subnormals and values next to the largest double do not survive 15
  // digits (their text is out of range for from_chars): left out.
  auto mag = std::fabs(v);
  if (v != 0 && (mag < 1e-300 || mag > 1e300))
    return;
  auto text = tools::format_number(v);
  auto again = tools::evaluate(text);
  if (!again)
    fuzz::broken("format_number wrote a text evaluate does not read");
  if (std::fabs(*again - v) > 1e-14 * mag)
    fuzz::broken("format_number's text evaluates to another number");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view expr{reinterpret_cast<const char*>(data), size};
  auto v = tools::evaluate(expr);
  if (v) {
    check_value(*v);
  } else if (v.error().code != errc::invalid_arguments &&
             v.error().code != errc::tool_failed) {
    fuzz::broken("evaluate failed with a code other than invalid_arguments "
                 "or tool_failed");
  }
  // The tool's body, as the executor calls it (arguments already checked
  // against the schema: an object with a string).
  static const auto tool = tools::calculator_tool();
  auto out = tool.fn(json{{"expression", std::string{expr}}}, {});
  if (out.operator bool() != v.operator bool())
    fuzz::broken("the calculator tool and evaluate disagree");
  if (out && (*out)["text"] != tools::format_number(*v))
    fuzz::broken("the calculator tool's text is not format_number's");
  return 0;
}
