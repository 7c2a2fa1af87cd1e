"""The one native part of Podium, media._fanout (batched SRTP + send for the forwarder).

Everything else about the package is in pyproject.toml. The extension is optional: where
there is no C compiler or no Python headers the build skips it, and media/fanout.py falls
back to the pure-Python fan-out (and says so once in the log)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "media._fanout",
            ["media/_fanout.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
