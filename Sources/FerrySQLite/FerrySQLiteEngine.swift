import FerryCore

