// Compiles src/RentalMarket.sol with solcjs into out/RentalMarket.abi (JSON) and out/RentalMarket.bin (hex).
const fs = require('fs');
const path = require('path');
const solc = require('solc');

// test/*.sol are helpers for tests and benchmarks only (written to out/test/).
const read = (...parts) => fs.readFileSync(path.join(__dirname, ...parts), 'utf8');
const input = {
  language: 'Solidity',
  sources: {
    'RentalMarket.sol': { content: read('src', 'RentalMarket.sol') },
    'test/BulkRenter.sol': { content: read('test', 'BulkRenter.sol') },
  },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'paris',
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

const contract = output.contracts['RentalMarket.sol'].RentalMarket;
const outDir = path.join(__dirname, 'out');
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'RentalMarket.abi'), JSON.stringify(contract.abi, null, 2) + '\n');
fs.writeFileSync(path.join(outDir, 'RentalMarket.bin'), contract.evm.bytecode.object + '\n');
const bulk = output.contracts['test/BulkRenter.sol'].BulkRenter;
fs.mkdirSync(path.join(outDir, 'test'), { recursive: true });
fs.writeFileSync(path.join(outDir, 'test', 'BulkRenter.bin'), bulk.evm.bytecode.object + '\n');
console.log(`RentalMarket compiled with solc ${solc.version()}: ${contract.evm.bytecode.object.length / 2} bytes`);
