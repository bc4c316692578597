"""Packaging for azfunc_telemetry."""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "azfunc_telemetry" / "_version.py").read_text()
).group(1)

setup(
    name="azfunc-telemetry",
    version=VERSION,
    description="Invocation-aware Application Insights telemetry for Azure Functions Python apps",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["azfunc_telemetry", "azfunc_telemetry.*"]),
    package_data={
        "azfunc_telemetry": ["py.typed"],
        # The viewer's page: plain HTML, CSS, JavaScript and SVG, served as they are.
        "azfunc_telemetry.local.viewer": [
            "static/*.html",
            "static/*.css",
            "static/*.js",
            "static/*.svg",
        ],
    },
    install_requires=[
        "azure-functions>=1.18",
        "opencensus>=0.11.4",
        "opencensus-ext-azure>=1.1.15",
    ],
    extras_require={
        "dev": [
            "mypy>=1.10",
            "nox>=2024.3.2",
            "pytest>=8",
            "pytest-timeout>=2.3",
            "ruff>=0.6",
        ],
    },
    entry_points={"console_scripts": ["azfunc-telemetry=azfunc_telemetry.local.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: System :: Logging",
        "Typing :: Typed",
    ],
)
