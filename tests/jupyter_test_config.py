# JupyterLab server for the browser test only (after Panel's panel/tests/ui/jupyter_server_test_config.py).
# Never use this configuration in production: no token, no password, no XSRF check.
from traitlets.config import Config

from labkit.cli import LAB_CONFIG

c = get_config()  # noqa: F821
c.IdentityProvider.token = ""
c.ServerApp.password = ""
c.ServerApp.disable_check_xsrf = True
c.ServerApp.open_browser = False
c.ServerApp.ip = "127.0.0.1"
c.LabApp.expose_app_in_browser = True          # window.jupyterapp, to drive the notebook
c.merge(Config(LAB_CONFIG))                    # offline, as `labkit lab` runs it: no news, update check, PyPI
c.ServerApp.allow_root = True                  # CI machines run as root
c.ServerApp.port_retries = 0                   # the test picked this port: fail loudly rather than move
