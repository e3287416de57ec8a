"""Run a corpus program with chainrule in place of torch: ``python _run_as_torch.py PROGRAM.py``.

Only this process sees ``torch`` as chainrule (the library never aliases itself): a finder maps
every ``torch.X`` import to the module ``chainrule.X``, so ``import torch.nn as nn`` and
``from torch.utils.data import DataLoader`` get chainrule's modules themselves (one class per
name, no second copy of a package loaded under another name).
"""

import importlib
import importlib.abc
import importlib.util
import runpy
import sys


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        real = "chainrule" + fullname[len("torch"):]
        try:
            if importlib.util.find_spec(real) is None:
                return None
        except ModuleNotFoundError:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module("chainrule" + spec.name[len("torch"):])
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec  # (the import machinery wrote the alias's spec over it)


if __name__ == "__main__":
    sys.meta_path.insert(0, _Alias())
    program = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(program, run_name="__main__")
