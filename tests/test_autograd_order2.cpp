// Second derivatives of element-wise expressions. Built into the binary compiled with MIXT_AUTOGRAD_MAX_ORDER=2
// (see tests/meson.build): the default build records first-order gradients only.
#include "testing.hpp"

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::random_values;

static_assert(MIXT_AUTOGRAD_MAX_ORDER >= 2, "build this file with -DMIXT_AUTOGRAD_MAX_ORDER=2");

static std::vector<double> stored(std::vector<double> v) { return mixt::testing::as_stored(std::move(v)); }

MIXT_DEVICE_TEST("autograd: autograd::grad returns gradients without touching grad(); second derivatives") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(6, -1, 1, 41));
  NDArray x = nd::array(xv, Shape{6}, ctx);
  x.attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = exp(x) + x;
  }
  std::vector<NDArray> g;
  {
    autograd::record rec;  // the gradient's computation is recorded too (create_graph)
    g = autograd::grad({y}, {x}, {}, true, /*create_graph=*/true);
  }
  std::vector<double> first(6), second(6);
  for (size_t i = 0; i < 6; ++i) {
    first[i] = std::exp(xv[i]) + 1;
    second[i] = std::exp(xv[i]);
  }
  check_close(g[0], first, 1e-5);
  check_close(x.grad(), std::vector<double>(6, 0.0));  // untouched
  g[0].backward();
  check_close(x.grad(), second, 1e-5);
}
