module github.com/flowcap/flowcap

go 1.26
