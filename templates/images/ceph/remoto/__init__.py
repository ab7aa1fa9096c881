"""
kseed's stand-in for the `remoto` library, which Debian does not package but
Ceph 16.2's cephadm mgr module imports to reach hosts over SSH. It offers only
what that module calls (Connection, import_module, process.check,
has_connection, exit), on Debian's python3-execnet, the library remoto itself
is built on. Written for kseed's Ceph image; not remoto's code.
"""
from . import backends, process  # noqa: F401
from .backends import BaseConnection, Connection  # noqa: F401

# above 1.2: the mgr module patches has_connection on 1.2 and older only
__version__ = '1.2.1'
