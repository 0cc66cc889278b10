import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "librbd_probe", "__init__.py")) as handle:
    VERSION = re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M).group(1)
with open(os.path.join(HERE, "README.md"), encoding="utf-8") as handle:
    LONG_DESCRIPTION = handle.read()

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
