"""Container images of registered versions, built from their bundles by podman, buildah or docker.

``build.build_image`` writes a version's build context (``context``: its bundle
from the artifact store, plus a wheel of Shipyard from ``wheel``) and runs a
builder on it (``builders``); ``shipyard image build`` is its command line.
``control_plane`` builds the image of ``shipyard server`` itself the same way. This
module holds only the names the command line needs before anything is built,
so that every ``shipyard`` command does not pay for the rest.
"""

from __future__ import annotations

DEFAULT_TAG = "shipyard/{model}:{version}"  # also the pods' image in `shipyard export kubernetes`
# The control plane's image ({version}: Shipyard's); also its chart's default image.
CONTROL_PLANE_TAG = "shipyard/control-plane:{version}"
CONTROL_PLANE_HOME = "/var/lib/shipyard"  # its SHIPYARD_HOME: a volume on a read-only root
BUILDERS = ("podman", "buildah", "docker")  # the order a builder is chosen in when none is named
