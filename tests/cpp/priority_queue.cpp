// Oracle for labkit/hnsw/heap.py: std::priority_queue as hnswlib uses it (tests/test_hnsw_heap.py).
#include <queue>
#include <vector>
#include <cstdio>
#include <cstdlib>
struct CompareByFirst { bool operator()(std::pair<float,int> const&a, std::pair<float,int> const&b) const { return a.first < b.first; } };
int main(int argc, char** argv) {
  // ops from stdin: "u key id" push, "o" pop; prints popped pairs
  std::priority_queue<std::pair<float,int>, std::vector<std::pair<float,int>>, CompareByFirst> q;
  std::priority_queue<std::pair<float,int>> p;
  int byid = atoi(argv[1]); char op; float k; int id;
  while (scanf(" %c", &op) == 1) {
    if (op == 'u') { scanf("%f %d", &k, &id); if (byid) p.emplace(k, id); else q.emplace(k, id); }
    else { if (byid) { printf("%g %d\n", p.top().first, p.top().second); p.pop(); } else { printf("%g %d\n", q.top().first, q.top().second); q.pop(); } }
  }
}
