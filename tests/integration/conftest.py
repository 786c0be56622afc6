"""pytest fixtures for kafkatap's integration tests (helpers live in rig.py).

  broker    -- a 1-broker mock cluster (kt-mockbroker), ephemeral port
  cluster3  -- a 3-broker mock cluster, ephemeral ports
  free_port -- a function returning a currently free TCP port on 127.0.0.1

Binaries are found through $KAFKATAP_BUILDDIR (default: the repository root).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rig  # noqa: E402


def _start(request, **kw):
    b = rig.Broker(**kw).start()

    def fin():
        rc = b.stop()
        # A launcher that did not exit cleanly is a rig bug worth seeing.
        if rc not in (0, None):
            sys.stderr.write("kt-mockbroker exited %s; stderr:\n%s\n" % (rc, b.log()))
    request.addfinalizer(fin)
    return b


@pytest.fixture
def broker(request):
    """A fresh 1-broker cluster; create topics with broker.create_topic()."""
    return _start(request, brokers=1)


@pytest.fixture
def cluster3(request):
    """A fresh 3-broker cluster."""
    return _start(request, brokers=3)


@pytest.fixture(name="free_port")
def free_port_fixture():
    return rig.free_port


def free_port():
    return rig.free_port()
