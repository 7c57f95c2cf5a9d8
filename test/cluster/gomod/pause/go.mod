// The sandbox ("pause") image's program of the real test node; no dependencies.

module visionops.test/cluster/pause

go 1.26.0
