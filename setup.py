"""Build the one compiled module: the map side's per-record loops (mapreduce/_collect.c).

Everything else is in pyproject.toml. The extension is optional: without a C compiler the
install still succeeds and mapreduce/collect.py's pure-Python loops are used instead.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mapreduce._collect",
            sources=["mapreduce/_collect.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
