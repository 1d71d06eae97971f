import sys

from ecg_tl_keras.cli import main

sys.exit(main())
