import os
import re

from setuptools import setup

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
    packages=["librbd_probe", "librbd_probe.children", "librbd_probe.knowledge"],
    package_data={"librbd_probe.knowledge": ["data/*.json"]},
    python_requires=">=3.6",
    install_requires=[],
    entry_points={"console_scripts": ["librbd-probe = librbd_probe.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.6",
        "Programming Language :: Python :: 3.13",
        "Operating System :: POSIX :: Linux",
        "Topic :: System :: Filesystems",
    ],
)
