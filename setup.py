import os
import re
import sys

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "librbd_probe", "__init__.py")) as handle:
    VERSION = re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M).group(1)
with open(os.path.join(HERE, "README.md"), encoding="utf-8") as handle:
    LONG_DESCRIPTION = handle.read()



class BuildWithCompiledKnowledge(build_py):
    """build_py, then each knowledge file decoded once into knowledge/data/NAME.json.marshal
    (librbd_probe.knowledge.compile_data: a scan then runs no JSON decoder; each document is
    used only while its JSON file is byte-identical to the one compiled)."""

    def run(self):
        build_py.run(self)
        if not self.dry_run:
            sys.path.insert(0, HERE)
            try:
                from librbd_probe.knowledge import compile_data
            finally:
                sys.path.remove(HERE)
            compile_data(self._data_dir())

    def _data_dir(self):
        return os.path.join(self.build_lib, "librbd_probe", "knowledge", "data")

    def get_outputs(self, include_bytecode=1):
        # listed, so pip's RECORD has them and an uninstall removes them
        data = self._data_dir()
        compiled = [os.path.join(data, n) for n in sorted(os.listdir(data)) if n.endswith(".json.marshal")] \
            if os.path.isdir(data) else []
        return build_py.get_outputs(self, include_bytecode) + compiled


setup(
    name="librbd_probe",
    version=VERSION,
    description="What can this host's Ceph RBD client (librbd/librados) actually do, and why did a binding fail?",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license="MIT",
    # every subpackage (children, knowledge, explain, schemas, ...): an installed copy or a
    # zipapp must carry the same files as the checkout
    packages=find_packages(include=["librbd_probe", "librbd_probe.*"]),
    package_data={"librbd_probe.knowledge": ["data/*.json"], "librbd_probe.schemas": ["*.json"]},
    python_requires=">=3.6",
    install_requires=[],
    # the command is a plain script (scripts/librbd-probe says why), not a console_scripts entry
    scripts=["scripts/librbd-probe"],
    cmdclass={"build_py": BuildWithCompiledKnowledge},
    # issue 11: @pytest.mark.librbd(requires=[...]) for downstream test suites
    entry_points={"pytest11": ["librbd_probe = librbd_probe.pytest_plugin"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.6",
        "Programming Language :: Python :: 3.13",
        "Operating System :: POSIX :: Linux",
        "Topic :: System :: Filesystems",
    ],
)
