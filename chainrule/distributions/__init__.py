"""Probability distributions (PyTorch's ``torch.distributions``).

    import chainrule.distributions as D
    policy = D.Categorical(logits=net(state))
    action = policy.sample()                          # from the global generator (cr.manual_seed)
    loss = -(policy.log_prob(action) * advantage).mean()   # REINFORCE: gradients reach the logits

    z = D.Normal(mu, sigma).rsample()                 # reparameterised: gradients reach mu and sigma

``Normal``, ``Uniform`` (with ``rsample``), ``Bernoulli``, ``Categorical``,
``OneHotCategorical``; ``kl_divergence`` for the pairs of the same family.
"""

from chainrule.distributions import constraints
from chainrule.distributions.discrete import Bernoulli, Categorical, OneHotCategorical
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.kl import kl_divergence, register_kl
from chainrule.distributions.normal import Normal, Uniform

__all__ = [
    "Bernoulli",
    "Categorical",
    "Distribution",
    "Normal",
    "OneHotCategorical",
    "Uniform",
    "constraints",
    "kl_divergence",
    "register_kl",
]
