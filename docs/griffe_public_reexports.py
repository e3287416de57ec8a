"""A griffe extension for the API reference (mkdocs.yml loads it; it is not part of chainrule).

chainrule's packages re-export their classes and functions from submodules without an
``__all__`` (``chainrule.nn`` imports ``Linear`` from ``chainrule.nn.modules.linear``, each area
under its own heading), and griffe treats an imported name as private unless ``__all__`` lists
it. Here every public-looking name that a package ``__init__`` without ``__all__`` imports from
chainrule itself is marked public, so that ``::: chainrule.nn`` documents ``chainrule.nn.Linear``
under the name users write, and a new layer is documented without touching an ``__all__``.
"""

from __future__ import annotations

from typing import Any

import griffe


class PublicReexports(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        todo = [pkg]
        while todo:
            mod = todo.pop()
            todo.extend(m for m in mod.modules.values() if not m.is_alias)
            if not mod.is_init_module or mod.exports:
                continue
            for name, member in mod.members.items():
                if name.startswith("_") or not member.is_alias:
                    continue
                if not member.target_path.startswith(pkg.name + "."):
                    continue  # numpy, typing, ...: not ours to document
                try:
                    if member.final_target.is_module:
                        continue  # submodules have pages (or sections) of their own
                except griffe.AliasResolutionError:
                    continue
                member.public = True
