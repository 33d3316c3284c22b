"""Package discovery only (metadata lives in pyproject.toml).

One namespace, ``gongzhi``, is spread over the product's folders: core/, devices/, telemetry/,
gateway/, platform/, simulators/ and evaluation/ each hold ``gongzhi/<part>/``. The folder
platform/ holds ``gongzhi.hub``: nothing of ours is importable as ``platform`` (the standard
library's name).
"""

from setuptools import find_namespace_packages, setup

ROOTS = ("core", "devices", "evaluation", "gateway", "platform", "simulators", "telemetry")

packages: list[str] = []
package_dir: dict[str, str] = {}
for root in ROOTS:
    for package in find_namespace_packages(where=root, include=["gongzhi.*"]):
        packages.append(package)
        package_dir[package] = f"{root}/{package.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
