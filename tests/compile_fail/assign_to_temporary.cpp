// Must NOT compile: `=` on a temporary view would rebind that temporary handle and leave `a` unchanged.
// tools/test checks that g++ rejects it with mixt's message pointing to .assign (ndarray/ndarray.hpp).
#include <mixt/mixt.hpp>

int main() {
  mixt::NDArray a = mixt::nd::zeros({4, 2}), b = mixt::nd::ones({1, 2});
  a.slice(0, 1) = b;
}
