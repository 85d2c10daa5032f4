// Must NOT compile: an NDArray plus a std::string. tools/test checks that g++ rejects it with mixt's one-line
// explanation (expr/operators.hpp) rather than a page of candidate operators.
#include <mixt/mixt.hpp>

#include <string>

int main() {
  mixt::NDArray a = mixt::nd::ones({3});
  auto e = a + std::string("x");
  (void)e;
}
