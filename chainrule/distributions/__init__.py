"""Probability distributions (PyTorch's ``torch.distributions``).

    import chainrule.distributions as D
    policy = D.Categorical(logits=net(state))
    action = policy.sample()                          # from the global generator (cr.manual_seed)
    loss = -(policy.log_prob(action) * advantage).mean()   # REINFORCE: gradients reach the logits

    z = D.Normal(mu, sigma).rsample()                 # reparameterised: gradients reach mu and sigma

Continuous: ``Normal``, ``Uniform``, ``Exponential``, ``Laplace``, ``Cauchy``, ``Gumbel``,
``LogNormal``, ``HalfNormal``, ``HalfCauchy``, ``Gamma``, ``Chi2``, ``Beta``, ``Dirichlet``,
``StudentT``, ``Weibull``, ``Pareto``, ``GeneralizedPareto``, ``InverseGamma``, ``Kumaraswamy``,
``FisherSnedecor``, ``MultivariateNormal``, ``LowRankMultivariateNormal``, ``Wishart``,
``LKJCholesky``, ``LogisticNormal``, ``VonMises``, ``ContinuousBernoulli``,
``RelaxedBernoulli``, ``RelaxedOneHotCategorical``. Discrete: ``Bernoulli``, ``Categorical``,
``OneHotCategorical``, ``OneHotCategoricalStraightThrough``, ``Poisson``, ``Binomial``,
``Geometric``, ``Multinomial``, ``NegativeBinomial``. Built from others: ``Independent``,
``TransformedDistribution`` (with the ``transforms`` and ``biject_to``/``transform_to``),
``MixtureSameFamily``. ``kl_divergence`` for the pairs of the same family.
"""

from chainrule.distributions import constraints, transforms
from chainrule.distributions.constraint_registry import biject_to, transform_to
from chainrule.distributions.continuous import (
    Beta,
    Cauchy,
    Chi2,
    Dirichlet,
    Exponential,
    Gamma,
    Gumbel,
    Laplace,
    StudentT,
)
from chainrule.distributions.counts import Binomial, Geometric, Multinomial, Poisson
from chainrule.distributions.discrete import Bernoulli, Categorical, OneHotCategorical
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.exp_family import ExponentialFamily
from chainrule.distributions.families import (
    ContinuousBernoulli,
    FisherSnedecor,
    GeneralizedPareto,
    InverseGamma,
    Kumaraswamy,
    NegativeBinomial,
    OneHotCategoricalStraightThrough,
    Pareto,
    Weibull,
)
from chainrule.distributions.kl import kl_divergence, register_kl
from chainrule.distributions.lkj import LKJCholesky
from chainrule.distributions.mixture import MixtureSameFamily, RelaxedBernoulli, RelaxedOneHotCategorical
from chainrule.distributions.multivariate_normal import LowRankMultivariateNormal, MultivariateNormal
from chainrule.distributions.normal import Normal, Uniform
from chainrule.distributions.transformed import (
    HalfCauchy,
    HalfNormal,
    Independent,
    LogisticNormal,
    LogNormal,
    TransformedDistribution,
)
from chainrule.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)
from chainrule.distributions.von_mises import VonMises
from chainrule.distributions.wishart import Wishart

__all__ = [
    "AbsTransform",
    "AffineTransform",
    "Bernoulli",
    "Beta",
    "Binomial",
    "CatTransform",
    "Categorical",
    "Cauchy",
    "Chi2",
    "ComposeTransform",
    "ContinuousBernoulli",
    "CorrCholeskyTransform",
    "CumulativeDistributionTransform",
    "Dirichlet",
    "Distribution",
    "ExpTransform",
    "Exponential",
    "ExponentialFamily",
    "FisherSnedecor",
    "Gamma",
    "GeneralizedPareto",
    "Geometric",
    "Gumbel",
    "HalfCauchy",
    "HalfNormal",
    "Independent",
    "IndependentTransform",
    "InverseGamma",
    "Kumaraswamy",
    "LKJCholesky",
    "Laplace",
    "LogNormal",
    "LowRankMultivariateNormal",
    "LogisticNormal",
    "LowerCholeskyTransform",
    "MixtureSameFamily",
    "Multinomial",
    "MultivariateNormal",
    "NegativeBinomial",
    "Normal",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "Pareto",
    "Poisson",
    "PositiveDefiniteTransform",
    "PowerTransform",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "ReshapeTransform",
    "SigmoidTransform",
    "SoftmaxTransform",
    "SoftplusTransform",
    "StackTransform",
    "StickBreakingTransform",
    "StudentT",
    "TanhTransform",
    "Transform",
    "TransformedDistribution",
    "Uniform",
    "VonMises",
    "Weibull",
    "Wishart",
    "biject_to",
    "constraints",
    "identity_transform",
    "kl_divergence",
    "register_kl",
    "transform_to",
    "transforms",
]
