"""The version, in a module of its own so that the command line need not import the
package's front door (__init__) to print it."""

__version__ = "0.1.0"
