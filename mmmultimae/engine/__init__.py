# Copyright (c) mmmultimae contributors. All rights reserved.
