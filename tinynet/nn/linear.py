"""``Linear`` (a fully connected layer) and ``Identity``.

Linear: y = x @ weight.T + bias, with x (N, *, in_features), weight
(out_features, in_features) as PyTorch stores it, bias (out_features,)
-> y (N, *, out_features).  Default init like PyTorch: weight
U(-1/sqrt(in_features), 1/sqrt(in_features)) (kaiming_uniform_ with a=sqrt(5)),
bias the same bound.
"""

from . import functional as F
from . import init
from .arguments import check_size
from .module import Module
from .parameter import empty_parameter

__all__ = ["Linear", "Identity"]


class Identity(Module):
    """Returns its input unchanged; accepts and ignores any constructor arguments
    (a placeholder, e.g. ``model.fc = Identity()`` to get features)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """Fully connected layer: (N, *, in_features) -> (N, *, out_features)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = check_size("Linear", "in_features", in_features)
        self.out_features = check_size("Linear", "out_features", out_features)
        self.weight = empty_parameter((out_features, in_features), device, dtype)
        if bias:
            self.bias = empty_parameter((out_features,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default init: U(-1/sqrt(in_features), 1/sqrt(in_features)) for both."""
        init.default_weight_and_bias_(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
