"""Day two: what the operator does to a running installation (status, the image catalog).

Every change starts from the profile the install saved in its state folder
(:mod:`installer.daytwo.saved`) and is applied as one Helm upgrade of the hub
(:mod:`installer.daytwo.apply`).
"""
