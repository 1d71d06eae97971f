"""On ``PYTHONPATH``, makes TensorFlow unimportable in that Python process, as if not installed.

``import tensorflow`` (and ``tensorboard``, ``tf_keras``) raises ``ModuleNotFoundError``,
and nothing is put in ``sys.modules``: Keras checks ``"tensorflow" in sys.modules``. The
JAX tests and ``bench/bench_jax_parity.py`` run ``train`` under it to show the JAX path
never needs TensorFlow, in an environment where TensorFlow is installed.
"""

import sys

BLOCKED = ("tensorflow", "tensorboard", "tf_keras")


class _NotInstalled:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled)
