"""Set up, prove and rotate the container-registry credentials of a BinderHub installation."""

__version__ = "0.1.0"
