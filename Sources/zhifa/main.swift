import ZhifaRuntime
import ArgumentParser
import AsyncHTTPClient
import ZIPFoundation
print("zhifa")
